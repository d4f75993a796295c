// Long lists in a real Chromium (issue 20): the sign-in log holds 1,501 rows of the last day
// (seeded by crates/authrelay/tests/admin_lists_browser.rs, which passes how they were made);
// the admin asks for page 7 of the refused ones before signing in and lands there after it;
// pages beyond 500 rows with totals, previous/next links that keep the filters; the partial,
// CIDR, ip:port and [v6]:port filters; a refused filter said at its field; the CSV download
// with the filter applied and a formula defused; Home's attention list and the sign-ins chart
// (SVG with a text alternative), the same chart on the SMTP AUTH clients report; an
// open-redirect attempt through `next` lands on Home. Environment: ADMIN_URL, ADMIN_ADDRESS,
// ADMIN_PASSWORD, WALK_LANG, SCREENSHOT_DIR, CHROMIUM, SEED (JSON of what was seeded).

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { env, launch, localizationLeaks } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const LANG = env("WALK_LANG", "en");
const SHOTS = path.join(env("SCREENSHOT_DIR"), LANG);
const SEED = JSON.parse(env("SEED"));
const NUMBER = { en: "en-US", ko: "ko-KR", id: "id-ID" }[LANG];
const num = (n) => n.toLocaleString(NUMBER);
// "Showing 601–700 of 1,200" in the page's language (Korean names the total first): the
// numbers as first, last, total.
const summaryNumbers = (text) =>
  (text.match(/\d[\d.,]*/g) ?? []).map((s) => Number(s.replace(/[.,]/g, ""))).sort((a, b) => a - b);

fs.mkdirSync(SHOTS, { recursive: true });
const { page, problems, close } = await launch(env("CHROMIUM", "/usr/bin/chromium"), LANG);
const shot = (name) => page.screenshot({ path: path.join(SHOTS, `lists-${name}-${LANG}.png`), fullPage: true });
const summary = async () => summaryNumbers(await page.locator(".pager-summary").innerText());

async function signIn(expectedPath) {
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click("#signin-submit")]);
  const url = new URL(page.url());
  assert.equal(url.origin, new URL(ADMIN_URL).origin, `left the admin center: ${page.url()}`);
  assert.equal(url.pathname + url.search, expectedPath);
}

try {
  // The language first (a cookie), then the page asked for before sign-in is where sign-in ends.
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  const asked = "/signins?result=failure&hours=24&page=7";
  await page.goto(`${ADMIN_URL}${asked}`);
  assert.equal(new URL(page.url()).pathname, "/signin", "not signed in: the sign-in page");
  await signIn(asked);

  // Page 7 of the refused sign-ins: rows 601–700 of all of them, said in numbers of the language.
  assert.deepEqual(await summary(), [601, 700, SEED.refused]);
  assert.ok((await page.locator(".pager-summary").innerText()).includes(num(SEED.refused)), "total with separators");
  assert.equal(await page.locator("tr.signin-row").count(), 100);
  assert.equal(await page.locator("tr.signin-row[data-success=true]").count(), 0, "only refused ones");
  assert.equal(await page.locator(".pager-links a[aria-current=page]").innerText(), "7");
  await shot("page7");
  await Promise.all([page.waitForNavigation(), page.click(".pager-next")]);
  assert.match(page.url(), /result=failure/, "the next link keeps the filter");
  assert.deepEqual(await summary(), [701, 800, SEED.refused]);
  // The last page, beyond every earlier 500-row cut.
  const lastPage = Math.ceil(SEED.refused / 100);
  await Promise.all([page.waitForNavigation(), page.click(`.pager-links a.pager-page:text-is("${lastPage}")`)]);
  assert.deepEqual(await summary(), [(lastPage - 1) * 100 + 1, SEED.refused, SEED.refused]);
  assert.equal(await page.locator(".pager-next").count(), 0, "no next page after the last");
  await Promise.all([page.waitForNavigation(), page.click(".pager-prev")]);
  assert.deepEqual(await summary(), [(lastPage - 2) * 100 + 1, (lastPage - 1) * 100, SEED.refused]);

  // Filters: a part of the address in another case, a CIDR range, the ip:port the table shows.
  const filter = async (fields) => {
    await page.goto(`${ADMIN_URL}/signins?hours=24`);
    for (const [id, value] of Object.entries(fields)) await page.fill(id, value);
    await Promise.all([page.waitForNavigation(), page.click("#filter")]);
  };
  await filter({ "#f-user": SEED.partial });
  assert.equal((await summary())[2], SEED.partial_total, `user contains ${SEED.partial}`);
  const users = await page.locator("tr.signin-row td:nth-child(2)").allInnerTexts();
  assert.ok(users.every((u) => u.toLowerCase().includes(SEED.partial.toLowerCase())), users.join(" "));
  await Promise.all([page.waitForNavigation(), page.click(".pager-next")]);
  assert.ok(decodeURIComponent(page.url()).includes(`user=${SEED.partial}`), `next keeps the user filter: ${page.url()}`);
  assert.deepEqual((await summary()).slice(0, 2), [101, 200]);
  await filter({ "#f-client": SEED.cidr });
  assert.equal((await summary())[2], SEED.cidr_total, SEED.cidr);
  await shot("cidr");
  // The ip:port of a row as the table shows it.
  await filter({ "#f-client": SEED.cidr });
  const shown = (await page.locator("tr.signin-row td:nth-child(3)").first().innerText()).trim();
  await filter({ "#f-client": shown });
  const ip = shown.slice(0, shown.lastIndexOf(":"));
  assert.equal((await summary())[2], SEED.per_ip[ip], `${shown} selects every sign-in of ${ip}`);
  await filter({ "#f-client": SEED.v6_with_port });
  assert.equal((await summary())[2], SEED.v6_total, SEED.v6_with_port);
  // A filter that is no address is said at its field, with what was typed kept.
  await filter({ "#f-client": "printer-room" });
  assert.equal(await page.locator("#f-client").getAttribute("aria-invalid"), "true");
  assert.ok(await page.locator("#f-client-error").isVisible());
  assert.equal(await page.locator("#f-client").inputValue(), "printer-room");
  await shot("bad-filter");

  // CSV with the filter applied; a user name that would be a formula stays text.
  await filter({ "#f-client": SEED.formula_ip });
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#signins-csv")]);
  const csv = fs.readFileSync(await download.path(), "utf8").split("\r\n").filter(Boolean);
  assert.equal(csv[0], "time,user,client_ip,client_port,tls,mechanism,credential,result,check,reply,legacy_listener");
  assert.equal(csv.length, 2, csv.join("\n"));
  assert.ok(csv[1].includes(`"'${SEED.formula.replaceAll('"', '""')}"`), csv[1]);
  await filter({ "#f-user": SEED.partial });
  const [big] = await Promise.all([page.waitForEvent("download"), page.click("#signins-csv")]);
  const rows = fs.readFileSync(await big.path(), "utf8").split("\r\n").filter(Boolean);
  assert.equal(rows.length, SEED.partial_total + 1, "every matching row, not one page");
  assert.ok(rows.slice(1).every((r) => r.split(",")[1].toLowerCase().includes(SEED.partial.toLowerCase())));

  // Home: what needs attention, each with where to fix it; the chart and its text alternative.
  await page.goto(`${ADMIN_URL}/`);
  const blocked = page.locator("#attention .attention-item[data-kind=blocked]");
  assert.ok((await blocked.count()) >= 1 && (await blocked.count()) <= 8, `${await blocked.count()} refused devices`);
  const credential = page.locator("#attention .attention-item[data-kind=credential]");
  assert.equal(await credential.count(), 1, "the device credential that expires soon");
  assert.ok((await credential.innerText()).includes(SEED.expiring_name), await credential.innerText());
  const chart = page.locator("svg#home-chart");
  assert.equal(await chart.getAttribute("role"), "img");
  assert.ok((await chart.locator("title").textContent()).length > 0);
  assert.ok((await chart.locator("desc").textContent()).includes(num(SEED.refused_24h)), await chart.locator("desc").textContent());
  assert.equal(Number(await chart.getAttribute("data-refused")), SEED.refused_24h);
  assert.equal(Number(await chart.getAttribute("data-succeeded")), SEED.succeeded_24h);
  assert.equal(await page.locator("#home-chart-table tr").count(), 25, "a header and 24 hours");
  assert.ok((await chart.locator("rect.bad-bar").count()) > 0);
  await shot("home");
  await Promise.all([page.waitForNavigation(), blocked.first().locator("a.attention-fix").click()]);
  assert.match(page.url(), /\/signins\?result=failure&hours=24&user=.*&client_ip=/);
  assert.ok((await summary())[2] >= 1, "the device's refused sign-ins");
  await page.goto(`${ADMIN_URL}/`);
  await Promise.all([page.waitForNavigation(), credential.locator("a.attention-fix").click()]);
  assert.ok(page.url().includes("/users/"), page.url());

  // The same chart on the SMTP AUTH clients report, per day.
  await page.goto(`${ADMIN_URL}/reports/smtp-auth?days=7`);
  assert.equal(await page.locator("svg#report-chart").getAttribute("role"), "img");
  assert.equal(await page.locator("#report-chart-table tr").count(), 8, "a header and 7 days");
  assert.equal(Number(await page.locator("svg#report-chart").getAttribute("data-refused")), SEED.refused);
  await shot("report");

  // Audit log: filters kept, a total said.
  await page.goto(`${ADMIN_URL}/audit?action=user.`);
  assert.equal(await page.locator("#a-action").inputValue(), "user.");
  const actions = await page.locator("tr.audit-row").evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.ok(actions.length >= 1 && actions.every((a) => a.startsWith("user.")), actions.join(" "));
  assert.equal((await summary()).at(-1), actions.length);

  const leaks = await localizationLeaks(page, LANG);
  assert.deepEqual(leaks, [], "pages show English values, raw ids or RFC 3339 times");

  // Sign-in never sends the browser to another site, whatever `next` says.
  for (const next of ["//evil.example/", "/\\evil.example/", "https://evil.example/", "/signin?next=//evil.example/"]) {
    await page.context().clearCookies();
    await page.goto(`${ADMIN_URL}/signin?next=${encodeURIComponent(next)}`);
    await signIn("/");
  }
  assert.deepEqual(problems, [], "script errors on the pages");
  console.log(`[${LANG}] lists walk passed`);
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(`[${LANG}] lists walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
