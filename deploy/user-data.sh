#!/bin/bash
# First boot of the seedbox host (cloud-init user data). Rendered by stacks/user-data.ts:
# Its placeholders are filled in and the files under deploy/ are embedded.
set -euo pipefail
exec > >(tee -a /var/log/t2s-setup.log) 2>&1
echo "t2s setup: start $(date -u +%FT%TZ)"

REGION='@REGION@'
BUCKET='@BUCKET@'
RELEASE_KEY='@RELEASE_KEY@'
DATA_DIR=/var/lib/t2s
APP_DIR=/opt/t2s/app

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q python3-venv python3-dev build-essential unzip xz-utils curl ca-certificates openssl
# AWS CLI v2 from its official zip (a snap would not run under the units' NoNewPrivileges).
if ! command -v aws >/dev/null; then
  curl -fsSL "https://awscli.amazonaws.com/awscli-exe-linux-$(uname -m).zip" -o /tmp/awscli.zip
  unzip -q /tmp/awscli.zip -d /tmp/awscli && /tmp/awscli/aws/install && rm -rf /tmp/awscli /tmp/awscli.zip
fi

id t2s >/dev/null 2>&1 || useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin t2s
install -d -m 0750 /etc/t2s

# The data volume (the launch template's second EBS mapping; each instance gets its own, deleted with
# it): the EBS disk that is not the root disk. Nitro names disks by NVMe order, not by the mapping.
ROOT_DISK=$(lsblk -npo PKNAME "$(findmnt -nvo SOURCE /)")
DEV=""
for _ in $(seq 1 60); do
  DEV=$(lsblk -dnpo NAME,MODEL | awk -v root="$ROOT_DISK" '$1 != root && /Amazon Elastic Block Store/ {print $1; exit}')
  [ -n "$DEV" ] && break
  sleep 5
done
[ -n "$DEV" ] || { echo "t2s setup: the data volume never appeared" >&2; exit 1; }
blkid "$DEV" >/dev/null 2>&1 || mkfs.ext4 -q -L t2s-data "$DEV"
UUID=$(blkid -s UUID -o value "$DEV")
grep -q "$UUID" /etc/fstab || echo "UUID=$UUID $DATA_DIR ext4 defaults,nofail,noatime 0 2" >> /etc/fstab
install -d "$DATA_DIR"
mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
install -d -o t2s -g t2s -m 0750 "$DATA_DIR" "$DATA_DIR/deluge" "$DATA_DIR/downloading" "$DATA_DIR/completed"

# Deluge 2.2.0 (the 2024 web UI fixes) and libtorrent's wheel from PyPI, pinned as in local mode
# (scripts/bootstrap.sh): pyOpenSSL 26.3 removed the X509Req deluged makes its certificate with, and
# setuptools 82 the pkg_resources Deluge imports.
if [ ! -x /opt/deluge/bin/deluged ]; then
  python3 -m venv /opt/deluge
  /opt/deluge/bin/pip install -q deluge==2.2.0 libtorrent==2.1.1 pyopenssl==26.2.0 'setuptools<82'
fi
/opt/deluge/bin/python -c 'import libtorrent, deluge; print("libtorrent", libtorrent.__version__)'

# Node 24 from nodejs.org, checked against the release's SHASUMS256.
if ! /usr/local/bin/node --version 2>/dev/null | grep -q '^v24\.'; then
  case "$(uname -m)" in aarch64) NODE_ARCH=arm64 ;; x86_64) NODE_ARCH=x64 ;; *) echo "t2s setup: unsupported CPU $(uname -m)" >&2; exit 1 ;; esac
  BASE=https://nodejs.org/dist/latest-v24.x
  TARBALL=$(curl -fsSL "$BASE/SHASUMS256.txt" | awk -v a="linux-$NODE_ARCH.tar.xz" '$2 ~ a"$" {print $2}')
  cd /tmp
  curl -fsSLO "$BASE/$TARBALL"
  curl -fsSL "$BASE/SHASUMS256.txt" | grep " $TARBALL\$" | sha256sum -c -
  tar -xJf "$TARBALL" -C /usr/local --strip-components=1
  rm -f "$TARBALL"
  cd /
fi

# The app release: the zip the stack uploaded. A new release is a new launch template version: instances
# started after it run it, older ones keep theirs until they end themselves idle.
rm -rf "$APP_DIR.new" && install -d "$APP_DIR.new"
aws s3 cp --only-show-errors --region "$REGION" "s3://$BUCKET/$RELEASE_KEY" /tmp/t2s-release.zip
unzip -q /tmp/t2s-release.zip -d "$APP_DIR.new" && rm -f /tmp/t2s-release.zip
(cd "$APP_DIR.new" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
rm -rf "$APP_DIR" && mv "$APP_DIR.new" "$APP_DIR"

# Service environment: names and addresses only; secrets stay in SSM or on this disk.
cat > /etc/t2s/t2s.env <<'T2S_EOF'
@SERVICE_ENV@
T2S_EOF
# This seedbox's id in leases: its instance id (IMDSv2).
imds_token=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)
echo "T2S_SEEDBOX_ID=$(curl -sS -H "X-aws-ec2-metadata-token: $imds_token" http://169.254.169.254/latest/meta-data/instance-id)" >> /etc/t2s/t2s.env

@FILES@

/usr/local/lib/t2s/deluge-init.sh
systemctl daemon-reload
# t2s-bot.service ships for an always-on host of your own; AWS mode runs the bot as Lambdas (HTTP interactions).
systemctl enable --now t2s-deluged.service t2s-deluge-web.service t2s-seedbox.service
echo "t2s setup: done $(date -u +%FT%TZ)"
