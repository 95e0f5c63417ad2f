// A TUF client nobody in this project wrote: tuf-js's Updater, run once against a repository
// served on 127.0.0.1, bootstrapped from a root the caller trusts.
//
//   node client.mjs [--root TRUSTED.json] --metadata-url URL --dir DIR [--target-url URL --target NAME]
//
// Without --root the client starts from what it trusted at the end of its last run in DIR
// (DIR/metadata/root.json), as an installed client does from one update to the next.
//
// Prints one JSON verdict on stdout and exits with its code:
//   0  {"ok": true,  "root_version": N, "target": PATH|null, ...}   the client accepted
//   1  {"ok": false, "error": CLASS, "message": TEXT, ...}           the client refused
//   2  {"ok": false, "error": "usage" | "tuf-js not installed", ...} this script could not run
// Exit 1 is a verdict about the repository; exit 2 is a broken test setup, never a verdict.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const USAGE = 'usage: client.mjs [--root FILE] --metadata-url URL --dir DIR [--target-url URL --target NAME]';

function emit(code, verdict) {
  process.stdout.write(JSON.stringify({ client: 'tuf-js', ...verdict }) + '\n');
  process.exitCode = code;
}

function parseArgs(argv) {
  const known = new Set(['--root', '--metadata-url', '--dir', '--target-url', '--target']);
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!known.has(argv[i]) || i + 1 >= argv.length) {
      throw new Error(`unexpected argument ${argv[i]}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const required of ['metadata-url', 'dir']) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  if (Boolean(args.target) !== Boolean(args['target-url'])) {
    throw new Error('--target and --target-url go together');
  }
  return args;
}

// The trusted root version the client ended on, as it persisted it (the Updater keeps its
// trusted set private; the persisted root.json is what the next run would start from).
function persistedRootVersion(metadataDir) {
  const root = JSON.parse(fs.readFileSync(path.join(metadataDir, 'root.json'), 'utf8'));
  return root.signed.version;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    emit(2, { ok: false, error: 'usage', message: `${e.message}; ${USAGE}` });
    return;
  }
  // Resolve tuf-js next to this script (tests/tufjs/node_modules), wherever node runs from.
  const require = createRequire(import.meta.url);
  let tuf, version;
  try {
    tuf = require('tuf-js');
    version = require('tuf-js/package.json').version;
  } catch (e) {
    emit(2, { ok: false, error: 'tuf-js not installed',
              message: `${e.message}; run: make venv (npm ci in tests/tufjs)` });
    return;
  }

  const metadataDir = path.join(args.dir, 'metadata');
  const targetDir = path.join(args.dir, 'downloads');
  fs.mkdirSync(metadataDir, { recursive: true });
  fs.mkdirSync(targetDir, { recursive: true });
  // Bootstrap: the client starts from the root the caller trusts, nothing else.
  if (args.root) {
    fs.copyFileSync(args.root, path.join(metadataDir, 'root.json'));
  } else if (!fs.existsSync(path.join(metadataDir, 'root.json'))) {
    emit(2, { ok: false, error: 'usage', message: `no --root and no ${metadataDir}/root.json to start from` });
    return;
  }

  try {
    const updater = new tuf.Updater({
      metadataDir,
      metadataBaseUrl: args['metadata-url'],
      targetDir,
      targetBaseUrl: args['target-url'],
      // 127.0.0.1 only: a refused connection is a broken test, not worth retrying.
      config: { fetchRetry: 0, fetchTimeout: 30000 },
    });
    await updater.refresh();
    let target = null;
    if (args.target) {
      const info = await updater.getTargetInfo(args.target);
      if (!info) {
        emit(1, { ok: false, tufjs: version, error: 'TargetNotFound',
                  message: `${args.target} is not a target of this repository`,
                  root_version: persistedRootVersion(metadataDir) });
        return;
      }
      target = await updater.downloadTarget(info);
    }
    emit(0, { ok: true, tufjs: version, root_version: persistedRootVersion(metadataDir), target });
  } catch (e) {
    const error = e && e.constructor && e.constructor.name ? e.constructor.name : typeof e;
    emit(1, { ok: false, tufjs: version, error, message: e && e.message ? e.message : String(e) });
  }
}

await main();
