// Secrets in SSM Parameter Store (SecureString): read (decrypted, naming any that is missing) and rotated.
import { GetParametersCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";

export class MissingParameter extends Error {
  override name = "MissingParameter";
  readonly parameter: string;
  constructor(parameter: string) {
    super(`SSM parameter ${parameter} is missing; set it with: aws ssm put-parameter --type SecureString --name ${parameter} --value ...`);
    this.parameter = parameter;
  }
}

/**
 * A client, for callers that load this module lazily: a dynamic import of @aws-sdk/client-ssm itself
 * gives, in an ESM bundle, only the CommonJS module's default export (no SSMClient; the rehearsal's
 * Discord functions failed every secret read with "SSMClient is not a constructor").
 */
export function ssmClient(o: { region: string; endpoint?: string | undefined }): SSMClient {
  return new SSMClient({ region: o.region, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
}

/** Reads parameters by name (at most 10); throws MissingParameter naming the first one absent. */
export async function getParameters(ssm: SSMClient, names: string[]): Promise<Record<string, string>> {
  const out = await ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true }));
  const found = Object.fromEntries((out.Parameters ?? []).map((p) => [p.Name ?? "", p.Value ?? ""]));
  for (const n of names) if (found[n] === undefined) throw new MissingParameter(n);
  return found;
}

/** Writes a secret (SecureString), replacing the value it had. */
export async function putSecret(ssm: SSMClient, name: string, value: string): Promise<void> {
  await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", Overwrite: true }));
}
