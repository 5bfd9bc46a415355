#!/usr/bin/env bash
# Baseline of the whole-pull benchmark: the steps of Ganymede's official pull action
# (a full pull with lib files), done with the same requests, tools and file walks, so
# its cost is what a user of that action pays. Written for this benchmark from the
# action's documented behaviour:
#   1. ask the API for the archive's signed URL (curl, status code checked);
#   2. download the archive (curl);
#   3. unzip it into a temporary folder;
#   4. in the target folder, remove top-level folders the archive lacks, then every
#      file it lacks (one test per file, one `rm` per removed file, each logged),
#      then empty folders;
#   5. copy the extracted tree over the target (`cp -r`), remove the temporaries.
# Inputs (environment): API_URL, API_TOKEN, ENVIRONMENT, TARGET, WORK.
set -euo pipefail

answer=$(curl -s -w '\n%{http_code}' --location \
    "$API_URL/v0/environment/$ENVIRONMENT/commits?includeLibFiles=true" \
    --header "api-key: $API_TOKEN")
status=$(printf '%s\n' "$answer" | tail -n1)
signed_url=$(printf '%s\n' "$answer" | sed '$ d')
if [ "$status" -ne 200 ]; then
    echo "error: status $status: $signed_url" >&2
    exit 1
fi

cd "$WORK"
curl -s -L "$signed_url" -o files.zip
extracted=$(mktemp -d "$WORK/extract.XXXXXX")
unzip -o -q files.zip -d "$extracted"
mkdir -p "$TARGET"

(
    cd "$TARGET"
    find . -mindepth 1 -maxdepth 1 -type d | while read -r folder; do
        name=$(basename "$folder")
        if [ ! -d "$extracted/$name" ]; then
            echo "Removing deleted flow directory: $name"
            rm -rf "$name"
        fi
    done
    find . -type f | while read -r path; do
        relative="${path#./}"
        if [ ! -f "$extracted/$relative" ]; then
            echo "Removing deleted file: $relative"
            rm "$path"
        fi
    done
    find . -type d -empty -delete 2>/dev/null || true
)

cp -r "$extracted"/* "$TARGET"/
rm -rf "$extracted"
rm files.zip
