#!/usr/bin/env bash
# Copy a trained model and its config to the inference nodes.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"

model_dir=$1
nodes=$(cat "$model_dir/nodes.txt")
cd $model_dir
for node in $nodes; do
    log "deploying to $node"
    rsync -a --delete ./ "$node:/srv/models/$(basename $model_dir)/"
done
if [ $? != 0 ]; then
    die "rsync failed"
fi
