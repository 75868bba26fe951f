// The month's cost from the store's totals, and the budget guard over it (the rules are lib/cost.ts's).
import { budgetDecision, monthCost, monthOf, type BudgetDecision, type Cost, type Pricing, type Usage } from "../lib/cost.ts";
import type { JobStore } from "../lib/job-store.ts";

export interface MonthCost extends Cost {
  month: string;
  usage: Usage;
  /** The owner's monthly budget and whether this month reached it; null: no guard. */
  budget: { usd: number; reached: boolean } | null;
  /** The date of the price table the estimate uses. */
  prices: string;
}

export interface Costs {
  month(month?: string): Promise<MonthCost>;
  /** "budget": new jobs wait and the fleet is not raised. Costs nothing when no budget is set. */
  decision(): Promise<BudgetDecision>;
  /** How soon the sweeper looks at a job held for the budget again. */
  recheckMs: number;
}

export function costs(d: { store: Pick<JobStore, "monthUsage">; pricing: Pricing; budgetUsd: number | null; now: () => string; recheckMs: number }): Costs {
  const month = async (m = monthOf(d.now())): Promise<MonthCost> => {
    const usage = await d.store.monthUsage(m);
    const cost = monthCost(usage, d.pricing);
    const budget = d.budgetUsd === null ? null : { usd: d.budgetUsd, reached: budgetDecision(cost.usd, d.budgetUsd) === "budget" };
    return { month: m, ...cost, usage, budget, prices: d.pricing.prices.date };
  };
  return {
    month,
    recheckMs: d.recheckMs,
    decision: async () => (d.budgetUsd === null ? "open" : budgetDecision((await month()).usd, d.budgetUsd)),
  };
}
