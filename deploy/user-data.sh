#!/bin/bash
# First boot of the seedbox host (cloud-init user data) on Debian 12. Rendered by stacks/user-data.ts:
# its placeholders are filled in and the files under deploy/ are embedded. It fetches only from Debian's
# archive, PyPI and the bucket: the release carries Node and the bundled services.
set -euo pipefail
exec > >(tee -a /var/log/t2s-setup.log) 2>&1
# One line per phase, with the seconds since the start (the rehearsal times the boot by these lines).
phase() { echo "t2s setup: $1 (${SECONDS} s) $(date -u +%FT%TZ)"; }
phase start

REGION='@REGION@'
BUCKET='@BUCKET@'
RELEASE_KEY='@RELEASE_KEY@'
DATA_DIR=/var/lib/t2s
APP_DIR=/opt/t2s/release
# The instance metadata service. The rehearsal (scripts/rehearse/) runs this script with T2S_IMDS_URL
# and AWS_ENDPOINT_URL* set to its loopback stand-ins; on EC2 they are unset.
IMDS=${T2S_IMDS_URL:-http://169.254.169.254}
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS

phase apt
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends python3-venv curl ca-certificates openssl

id t2s >/dev/null 2>&1 || useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin t2s
install -d -m 0750 /etc/t2s

# The data volume (the launch template's second EBS mapping; each instance gets its own, deleted with
# it): the EBS disk that is not the root disk. Nitro names disks by NVMe order, not by the mapping.
# A data folder that is a mount already (the rehearsal binds one) is used as it is.
if ! mountpoint -q "$DATA_DIR"; then
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
fi
install -d -o t2s -g t2s -m 0750 "$DATA_DIR" "$DATA_DIR/deluge" "$DATA_DIR/downloading" "$DATA_DIR/completed"

phase pip
# The AWS CLI from PyPI, pinned as the benchmarks' (scripts/bootstrap.sh). Debian 12's own awscli (2.9)
# predates the AWS_ENDPOINT_URL* settings, which the rehearsal needs to point it at its endpoints.
# It installs in the background while Deluge does: the boot waits for the slower of the two.
if [ ! -x /opt/awscli/bin/aws ]; then
  python3 -m venv /opt/awscli
  /opt/awscli/bin/pip install -q --disable-pip-version-check awscli==1.46.3 &
  awscli_pip=$!
fi
# Deluge 2.2.0 (the 2024 web UI fixes) and libtorrent's wheel from PyPI, pinned as in local mode
# (scripts/bootstrap.sh): pyOpenSSL 26.3 removed the X509Req deluged makes its certificate with, and
# setuptools 82 the pkg_resources Deluge imports.
if [ ! -x /opt/deluge/bin/deluged ]; then
  python3 -m venv /opt/deluge
  /opt/deluge/bin/pip install -q --disable-pip-version-check deluge==2.2.0 libtorrent==2.1.1 pyopenssl==26.2.0 'setuptools<82'
fi
/opt/deluge/bin/python -c 'import libtorrent, deluge; print("libtorrent", libtorrent.__version__)'
# wait returns the background install's exit status, so a failed one stops the boot here.
if [ -n "${awscli_pip:-}" ]; then wait "$awscli_pip"; fi
ln -sf /opt/awscli/bin/aws /usr/local/bin/aws
aws --version

phase release
# The release (scripts/build-release.ts): Node and the bundled services for this CPU. A new release is a
# new launch template version: instances started after it run it, older ones keep theirs until they
# end themselves idle.
rm -rf "$APP_DIR.new" && install -d "$APP_DIR.new"
aws s3 cp --only-show-errors --region "$REGION" "s3://$BUCKET/$RELEASE_KEY" /tmp/t2s-release.tar.gz
tar -xzf /tmp/t2s-release.tar.gz -C "$APP_DIR.new" --no-same-owner && rm -f /tmp/t2s-release.tar.gz
"$APP_DIR.new/node/bin/node" --version
rm -rf "$APP_DIR" && mv "$APP_DIR.new" "$APP_DIR"

phase services
# Service environment: names and addresses only; secrets stay in SSM or on this disk.
cat > /etc/t2s/t2s.env <<'T2S_EOF'
@SERVICE_ENV@
T2S_EOF
# The metadata service as this script found it; the AWS endpoints only where the rehearsal set them.
printf 'T2S_IMDS_URL=%s\nAWS_EC2_METADATA_SERVICE_ENDPOINT=%s\n' "$IMDS" "$IMDS" >> /etc/t2s/t2s.env
for var in AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3; do
  if [ -n "${!var:-}" ]; then echo "$var=${!var}" >> /etc/t2s/t2s.env; fi
done
# This seedbox's id in leases: its instance id (IMDSv2).
imds_token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS/latest/api/token")
instance_id=$(curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/instance-id")
echo "T2S_SEEDBOX_ID=$instance_id" >> /etc/t2s/t2s.env

@FILES@

/usr/local/lib/t2s/deluge-init.sh
systemctl daemon-reload
# t2s-bot.service ships for an always-on host of your own; AWS mode runs the bot as Lambdas (HTTP interactions).
# t2s-logs ships this setup log (from its first line) and the services' journal to CloudWatch Logs.
systemctl enable --now t2s-logs.service t2s-deluged.service t2s-deluge-web.service t2s-seedbox.service
phase done
