// The job table as both stacks must synthesize it, checked against the adapter's schema.
import assert from "node:assert/strict";
import { jobTableSchema as schema } from "../../lib/aws/job-table-schema.ts";

export function assertJobTable(t: Record<string, unknown>): void {
  assert.equal(t.name, "${var.name}-jobs");
  assert.equal(t.billing_mode, "PAY_PER_REQUEST");
  assert.equal(t.hash_key, schema.hashKey);
  assert.equal(t.range_key, undefined);
  assert.deepEqual(t.attribute, [schema.hashKey, schema.kindKey, schema.byCreated.rangeKey, schema.byChanged.rangeKey, schema.byDue.hashKey, schema.byDue.rangeKey].map((name) => ({ name, type: "S" })));
  assert.deepEqual(t.global_secondary_index, [schema.byCreated, schema.byChanged, schema.byDue].map((i) => ({ name: i.name, hash_key: "hashKey" in i ? i.hashKey : schema.kindKey, range_key: i.rangeKey, projection_type: "ALL" })));
  assert.deepEqual(t.server_side_encryption, { enabled: true });
  // moto applies PITR, so the local stack keeps it on like AWS mode.
  assert.deepEqual(t.point_in_time_recovery, { enabled: true });
  assert.deepEqual(t.ttl, { enabled: true, attribute_name: schema.ttlAttribute });
  for (const k of ["read_capacity", "write_capacity", "local_secondary_index"]) assert.equal(t[k], undefined, k);
}
