// The job table's shape: stacks/ builds the table from it (without loading the SDK), the adapter
// reads and writes by it, and tests create their tables from it.
export const jobTableSchema = {
  hashKey: "id",
  /** Both indexes' partition key: every item has kind = "job". */
  kindKey: "kind",
  byCreated: { name: "by-created", rangeKey: "created" },
  byChanged: { name: "by-changed", rangeKey: "changed" },
  /** Epoch seconds after which DynamoDB may delete an ended job's record. */
  ttlAttribute: "expires",
} as const;
