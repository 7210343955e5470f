#!/bin/sh
# Regenerates scripts/corpus/out/*.tsv from the bare mirrors under /work/.mirror, then rebuilds
# tests/data/corpus.tsv (our own script; the mirrors are not part of the repository).
set -e
cd "$(dirname "$0")"
for f in sisimai_emails sisimai_history sisimai_code docs_extract google_reference rule_comments \
         eml_collections logs_extract mta_sources mox_source james_source; do
    python3 "$f.py"
done
python3 build.py --freeze
