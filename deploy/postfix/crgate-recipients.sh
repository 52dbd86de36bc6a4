#!/usr/bin/env bash
# Writes the map of the addresses crgate accepts, one "address owner" line per user and alias (the
# owner is the user's primary address, which is also their Dovecot login), for Postfix's
# virtual_mailbox_maps and smtpd_sender_login_maps. Run it after every `crgate users` change, then
# `postfix reload`. CRGATE names the crgate command (default: crgate).
#   crgate-recipients.sh /etc/postfix/crgate-recipients && postfix reload
set -euo pipefail
out=$1
${CRGATE:-crgate} users list |
  awk '/^[^[:space:]@]+@/ { gsub(/[(),]/, " "); sub(/aliases:/, ""); for (i = 1; i <= NF; i++) print $i, $1 }' > "$out.new"
# An empty map makes Postfix refuse every recipient: keep the old one rather than write that.
if [ ! -s "$out.new" ]; then
  rm -f "$out.new"
  echo "crgate-recipients.sh: crgate lists no users; $out left as it was" >&2
  exit 1
fi
mv "$out.new" "$out"
