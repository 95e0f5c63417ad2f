"""One screen per ceremony step, plus the PIN and confirmation modals."""
