"""Small widgets shared by the screens; each renders one piece of engine state."""
