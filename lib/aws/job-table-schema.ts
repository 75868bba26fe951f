// The job table's shape: stacks/ builds the table from it (without loading the SDK), the adapter
// reads and writes by it, and tests create their tables from it.
export const jobTableSchema = {
  hashKey: "id",
  /** Both indexes' partition key: every item has kind = "job". */
  kindKey: "kind",
  byCreated: { name: "by-created", rangeKey: "created" },
  byChanged: { name: "by-changed", rangeKey: "changed" },
  /**
   * The sweeper's index, sparse: only open jobs carry its keys (a constant partition and `${due}#${id}`),
   * so finding the jobs due costs the same however many jobs have ended.
   */
  byDue: { name: "by-due", hashKey: "open", rangeKey: "due" },
  /** Epoch seconds after which DynamoDB may delete an ended job's record. */
  ttlAttribute: "expires",
} as const;
