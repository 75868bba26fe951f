// Who may use the bot: a user listed by id, or a member holding one of the listed roles.
export interface AccessList {
  users: readonly string[];
  roles: readonly string[];
}

export interface Caller {
  userId: string;
  /** Role ids the caller holds in the guild the command came from (none in DMs). */
  roleIds: readonly string[];
}

/** With both lists empty nobody is allowed (the bot warns about that at start). */
export function isAllowed(c: Caller, a: AccessList): boolean {
  if (a.users.includes(c.userId)) return true;
  return c.roleIds.some((r) => a.roles.includes(r));
}

export function refusesEveryone(a: AccessList): boolean {
  return a.users.length === 0 && a.roles.length === 0;
}

export const refusal = "Sorry, you are not allowed to use this bot. Ask its owner to add your user id or one of your roles.";
