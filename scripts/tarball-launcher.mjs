#!/usr/bin/env node
// Run by `oclif pack tarballs` as the workspace's pretarball script (cwd: tmp/regshape), after
// oclif has written its bash launcher to bin/regshape: replaces that launcher with regshape's own.
//
// Why: oclif's launcher looks under $HOME for a self-updated client
// ($XDG_DATA_HOME/regshape/client/bin/regshape) and a custom Node
// ($XDG_DATA_HOME/oclif/node/node-custom), and finds $HOME with `cd && pwd`. With HOME empty that
// is the current directory, so it would run whatever sits in ./.local/share/ of wherever the user
// is; with HOME unset it stops on "cd: HOME not set". regshape has no self-update, so its
// launcher runs the Node next to it (else node on PATH) and looks nowhere else. bin/run.js then
// finds the home from the user database (src/startup/home.ts).
import {chmodSync, existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const launcher = join(process.cwd(), 'bin', 'regshape')
if (!existsSync(launcher) || !existsSync(join(process.cwd(), 'bin', 'run.js'))) {
  console.error(`tarball-launcher: run in the tarball workspace (no bin/regshape and bin/run.js in ${process.cwd()})`)
  process.exit(1)
}

writeFileSync(
  launcher,
  `#!/usr/bin/env bash
# regshape's launcher (scripts/tarball-launcher.mjs): the Node next to it, else node on PATH.
set -e
source_path="\${BASH_SOURCE[0]}"
while [ -h "$source_path" ]; do
  link_dir="$(cd -P "$(dirname "$source_path")" && pwd)"
  source_path="$(readlink "$source_path")"
  [[ $source_path != /* ]] && source_path="$link_dir/$source_path"
done
DIR="$(cd -P "$(dirname "$source_path")" && pwd)"
export REGSHAPE_BINPATH="\${REGSHAPE_BINPATH:-$DIR/regshape}"
if [ -x "$DIR/node" ]; then
  NODE="$DIR/node"
elif command -v node >/dev/null 2>&1; then
  NODE=node
else
  echo 'Error: node is not installed.' >&2
  exit 1
fi
exec "$NODE" "$DIR/run.js" "$@"
`,
)
chmodSync(launcher, 0o755)
