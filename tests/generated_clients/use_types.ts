// A frontend's use of the types openapi-typescript generates from openapi.yaml (as ./leads-api.ts).
// Compiled with `tsc --strict`; it must compile, and the bogus bodies below (uncommented one at a
// time by the test) must not.
import type { components, paths } from "./leads-api";

type Schemas = components["schemas"];
type LeadPage = Schemas["LeadPage"];
type UpdateBody = paths["/leads/{id}"]["put"]["requestBody"]["content"]["application/json"];
type ConvertBody = NonNullable<paths["/leads/{id}/convert"]["post"]["requestBody"]>["content"]["application/json"];
type Converted = paths["/leads/{id}/convert"]["post"]["responses"]["200"]["content"]["application/json"];
type Conflict = Schemas["ErrorResponse"];

export function describePage(page: LeadPage): string {
  const { page: number, totalPages, hasMore } = page.meta;
  const qualified: number = page.stats.byStatus.qualified;
  const hot: number = page.stats.byInterestLevel.hot;
  const next: string | null = page.cursors.next;
  const names: string[] = page.leads.map((lead) => lead.name);
  return `${number}/${totalPages} more=${hasMore} qualified=${qualified} hot=${hot} next=${next ?? "none"} ${names}`;
}

export const qualify: UpdateBody = { status: "qualified", interest_level: "hot", version: 3 };
export const clearNotes: UpdateBody = { notes: null };
export const asSeller: ConvertBody = { clientType: "seller" };
export const withDefaults: ConvertBody = {}; // clientType is optional: the server defaults it to buyer

export function clientOf(answer: Converted): string {
  const client: Schemas["Client"] = answer.data.client;
  const range: [number | null, number | null] = [client.price_range_min, client.price_range_max];
  return `${answer.data.lead.client_id} ${client.client_type} ${range}`;
}

export function conflictVersions(answer: Conflict): number | undefined {
  const details = answer.error.details;
  if (answer.error.code === "VERSION_CONFLICT" && details && !Array.isArray(details)) {
    return details.currentVersion;
  }
  return undefined;
}

// BOGUS status: export const badStatus: UpdateBody = { status: "bogus" };
// BOGUS field: export const badField: UpdateBody = { nmae: "typo" };
// BOGUS type: export const badBudget: UpdateBody = { budget: "a lot" };
// BOGUS client type: export const badClient: ConvertBody = { clientType: "landlord" };
