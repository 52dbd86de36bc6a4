#!/usr/bin/env bash
# Fills in a crgate deploy template: every {{NAME}} becomes the value of the environment variable NAME
# (an empty value is allowed; an unset one is an error). Nothing else in the file is touched.
#   PROTECTED_DOMAINS=example.org ... deploy/render.sh deploy/postfix/main.cf.tmpl >> /etc/postfix/main.cf
set -euo pipefail
exec perl -pe 's/\{\{([A-Z][A-Z0-9_]*)\}\}/exists $ENV{$1} ? $ENV{$1} : die "render.sh: $1 is not set ($ARGV line $.)\n"/ge' "$@"
