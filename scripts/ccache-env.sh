# Sourced by the build scripts: ccache settings that let a fresh clone in any
# folder reuse objects compiled by an earlier clone on the same machine.
#  - the cache lives under the invoking user's ~/.cache (root: /root/.cache);
#  - base_dir = this checkout, so absolute paths in compiler arguments become
#    relative to the build folder (identical in every clone);
#  - hash_dir off: -g1 objects would otherwise hash the build folder's path
#    (debug info then names the folder of the clone that compiled it first);
#  - no absolute paths reach compile definitions (tests read paths at run time).
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccache}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(pwd -P)}"
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
export CCACHE_COMPRESS=1
