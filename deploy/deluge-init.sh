#!/bin/bash
# Writes Deluge's config once, with passwords generated here; they never leave this host.
set -euo pipefail
CONF=/var/lib/t2s/deluge
SECRETS=/etc/t2s/deluge.env
# libtorrent's tuning (seedbox/deluge-tuning.ts): our plugin and its settings, shipped in this release.
mkdir -p "$CONF"
cp -r /opt/t2s/release/deluge/. "$CONF/"
[ -s "$SECRETS" ] && exit 0
umask 077
LOCALCLIENT=$(openssl rand -hex 20)
WEB_PASSWORD=$(openssl rand -hex 24)
HOST_ID=$(openssl rand -hex 16)
SALT=$(openssl rand -hex 20)
SHA1=$(printf '%s%s' "$SALT" "$WEB_PASSWORD" | sha1sum | cut -d' ' -f1)
printf 'localclient:%s:10\n' "$LOCALCLIENT" > "$CONF/auth"
printf '{"file": 3, "format": 1}{"hosts": [["%s", "127.0.0.1", 58846, "localclient", "%s"]]}\n' "$HOST_ID" "$LOCALCLIENT" > "$CONF/hostlist.conf"
printf '{"file": 2, "format": 1}{"port": 8112, "interface": "127.0.0.1", "https": false, "pwd_salt": "%s", "pwd_sha1": "%s", "default_daemon": "%s", "first_login": false, "session_timeout": 3600}\n' "$SALT" "$SHA1" "$HOST_ID" > "$CONF/web.conf"
printf '{"file": 1, "format": 1}{"daemon_port": 58846, "allow_remote": false, "new_release_check": false, "download_location": "/var/lib/t2s/downloading", "move_completed": false, "pre_allocate_storage": false, "upnp": false, "natpmp": false, "enabled_plugins": ["T2sTuning"]}\n' > "$CONF/core.conf"
chown t2s:t2s "$CONF/auth" "$CONF/hostlist.conf" "$CONF/web.conf" "$CONF/core.conf"
chmod 0600 "$CONF/auth" "$CONF/hostlist.conf" "$CONF/web.conf" "$CONF/core.conf"
printf 'T2S_DELUGE_PASSWORD=%s\n' "$WEB_PASSWORD" > "$SECRETS.tmp"
chown root:t2s "$SECRETS.tmp" && chmod 0640 "$SECRETS.tmp" && mv "$SECRETS.tmp" "$SECRETS"
