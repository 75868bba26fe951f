#!/bin/bash
# ssm-env.sh OUT VAR=/param/name ...: reads SecureString parameters into an env file for a unit.
# A missing parameter stops the unit with a message naming it.
set -euo pipefail
OUT=$1; shift
umask 077
: > "$OUT.tmp"
for pair in "$@"; do
  VAR=${pair%%=*}
  PARAM=${pair#*=}
  if ! VALUE=$(aws ssm get-parameter --region "$AWS_REGION" --with-decryption --name "$PARAM" --query Parameter.Value --output text 2>/dev/null); then
    echo "t2s: cannot read SSM parameter $PARAM (set it with: aws ssm put-parameter --type SecureString --name $PARAM --value ...)" >&2
    rm -f "$OUT.tmp"
    exit 1
  fi
  printf '%s=%s\n' "$VAR" "$VALUE" >> "$OUT.tmp"
done
mv "$OUT.tmp" "$OUT"
