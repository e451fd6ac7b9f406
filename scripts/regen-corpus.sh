#!/bin/sh
# Thin wrapper: the corpus generator is scripts/regen-corpus.py (Python 3, stdlib only).
exec python3 "$(dirname "$0")/regen-corpus.py" "$@"
