/** hugetlb (runc fs/hugetlb.go, fs2/hugetlb.go). */
import { show, SpecError } from "../../../spec/errors.ts";
import {
  type Json,
  NULL_IS_UNSET,
  optArray,
  optInteger,
  optObject,
  optString,
  required,
} from "../../../spec/json.ts";
import { decimal, type HostFacts, type PlanBuilder, R } from "./plan.ts";

function checkPageSize(facts: HostFacts, pageSize: string, field: string): void {
  if (!/^\d+[KMG]B$/.test(pageSize)) {
    throw new SpecError(
      field,
      `must be a hugepage size such as "2MB" or "1GB", got ${show(pageSize)}`,
    );
  }
  if (facts.hugepageSizes && !facts.hugepageSizes.includes(pageSize)) {
    throw new SpecError(
      field,
      `${JSON.stringify(pageSize)} is not a hugepage size of this kernel (it has: ${
        facts.hugepageSizes.join(", ") || "none"
      })`,
    );
  }
}

/** Reads and checks linux.resources.hugepageLimits[i]; the limit as decimal text. */
function hugepageLimit(
  entry: unknown,
  i: number,
  facts: HostFacts,
): { at: string; pageSize: string; value: string } {
  const at = `${R}.hugepageLimits[${i}]`;
  const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
  const pageSize = optString(o.pageSize, `${at}.pageSize`, NULL_IS_UNSET) ??
    required(`${at}.pageSize`);
  const limit = optInteger(o.limit, `${at}.limit`, 0, Infinity, NULL_IS_UNSET) ??
    required(`${at}.limit`);
  checkPageSize(facts, pageSize, `${at}.pageSize`);
  return { at, pageSize, value: decimal(limit) };
}

/** The cgroup v2 hugetlb writes (hugetlb.<size>.max and .rsvd.max). */
export function planHugetlbV2(res: Json, p: PlanBuilder): void {
  optArray(res.hugepageLimits, `${R}.hugepageLimits`).forEach((entry, i) => {
    const { at, pageSize, value } = hugepageLimit(entry, i, p.facts);
    p.need("hugetlb", at);
    p.add("hugetlb", `hugetlb.${pageSize}.max`, value, `${at}.limit`);
    // Reservations (kernel 5.7+) get the same limit, or a process could reserve past it.
    p.add("hugetlb", `hugetlb.${pageSize}.rsvd.max`, value, `${at}.limit`, { optional: true });
  });
}

/** The cgroup v1 hugetlb writes; on a hybrid host whose cgroup2 has hugetlb, there. */
export function planHugetlbV1(res: Json, p: PlanBuilder): void {
  optArray(res.hugepageLimits, `${R}.hugepageLimits`).forEach((entry, i) => {
    const { at, pageSize, value } = hugepageLimit(entry, i, p.facts);
    if (!p.facts.controllers || p.facts.controllers.includes("hugetlb")) {
      p.add("hugetlb", `hugetlb.${pageSize}.limit_in_bytes`, value, `${at}.limit`);
      p.add("hugetlb", `hugetlb.${pageSize}.rsvd.limit_in_bytes`, value, `${at}.limit`, {
        optional: true,
      });
    } else if (p.facts.unifiedControllers?.includes("hugetlb")) {
      const extra = { enable: "hugetlb" };
      p.add("unified", `hugetlb.${pageSize}.max`, value, `${at}.limit`, extra);
      p.add("unified", `hugetlb.${pageSize}.rsvd.max`, value, `${at}.limit`, {
        ...extra,
        optional: true,
      });
    } else {
      p.need("hugetlb", at);
    }
  });
}
