// The Troubleshooter in a real Chromium against a real server: the seed's blocked mailbox
// (security defaults on, SMTP AUTH off for the tenant, MFA on for the user). The admin opens
// the Troubleshooter, sees which layers block, applies the first suggested fix with one click
// until the verdict says the mailbox can send (a device credential, shown once, instead of
// turning security defaults or MFA off), and a real SMTP client (swaks) then sends with it. A
// pasted reply is explained, and the SMTP AUTH clients report counts the message sent.
//
// Run by crates/authrelay/tests/admin_troubleshoot_browser.rs with the same environment as
// seed-walk.mjs: ADMIN_URL, ADMIN_ADDRESS, ADMIN_PASSWORD, SMTP_PORT, USER_ADDRESS,
// USER_PASSWORD, WALK_LANG (en | ko | id), SCREENSHOT_DIR, CHROMIUM.

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { env, launch, swaks as device, totp, MFA, TENANT } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const ADMIN_ADDRESS = env("ADMIN_ADDRESS");
const ADMIN_PASSWORD = env("ADMIN_PASSWORD");
const SMTP_PORT = env("SMTP_PORT");
const USER_ADDRESS = env("USER_ADDRESS");
const USER_PASSWORD = env("USER_PASSWORD");
const LANG = env("WALK_LANG", "en");
const SHOTS = path.join(env("SCREENSHOT_DIR"), LANG);
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");

// A few words per page in the language under test.
const TEXT = {
  en: { troubleshooter: "Troubleshooter", report: "SMTP AUTH clients report", applied: "Fix applied", weakensOrg: "Weakens protection for the whole organisation" },
  ko: { troubleshooter: "문제 해결사", report: "SMTP AUTH 클라이언트 보고서", applied: "해결 방법을 적용하고", weakensOrg: "조직 전체의 보호를 낮춤" },
  id: { troubleshooter: "Pemecah masalah", report: "Laporan klien SMTP AUTH", applied: "Perbaikan diterapkan", weakensOrg: "Melemahkan perlindungan seluruh organisasi" },
}[LANG];
assert.ok(TEXT, `unknown language ${LANG}`);

function swaks(password, quitAfterAuth) {
  return device({ port: SMTP_PORT, user: USER_ADDRESS, password, subject: "Scan 0043", quitAfterAuth });
}

fs.mkdirSync(SHOTS, { recursive: true });
const { page, problems, close } = await launch(CHROMIUM, LANG);

let shot = 0;
async function screenshot(name) {
  shot += 1;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}
async function title() {
  return (await page.locator("#page-title").innerText()).trim();
}
async function expectLang() {
  assert.equal(await page.locator("html").getAttribute("lang"), LANG, `page ${page.url()} is not in ${LANG}`);
}
async function statuses() {
  return page.locator("tr.ts-check").evaluateAll((rs) => Object.fromEntries(rs.map((r) => [r.dataset.check, r.dataset.status])));
}

try {
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  await page.fill("#address", ADMIN_ADDRESS);
  await page.fill("#password", ADMIN_PASSWORD);
  await page.click("#signin-submit");
  await page.waitForURL("**/signin/totp");
  await page.fill("#code", totp((await page.locator("#totp-secret").innerText()).trim()));
  await page.click("#totp-submit");
  await page.waitForURL(`${ADMIN_URL}/`);
  await expectLang();

  const before = swaks(USER_PASSWORD, true);
  assert.ok(before.includes(TENANT), `expected the tenant refusal before the fixes:\n${before}`);

  // Troubleshooter → pick the mailbox → the verdict names the three blocking layers.
  await page.click("#nav-troubleshoot");
  assert.equal(await title(), TEXT.troubleshooter);
  await expectLang();
  await page.fill("#ts-user", USER_ADDRESS);
  await page.click("#ts-check");
  await page.waitForSelector("#ts-verdict");
  assert.equal(await page.locator("#ts-verdict").getAttribute("data-can-send"), "no");
  const blocked = await statuses();
  for (const c of ["authenticated-smtp", "security-defaults", "mfa"]) assert.equal(blocked[c], "blocks", `${c}: ${JSON.stringify(blocked)}`);
  assert.equal(blocked["sign-in"], "pass");
  // Turning security defaults off is offered last for its check, and visibly marked.
  const sdFixes = page.locator('.ts-fix[data-check="security-defaults"]');
  const last = sdFixes.nth((await sdFixes.count()) - 1);
  assert.equal(await last.getAttribute("data-action"), "security-defaults-off");
  assert.ok((await last.getAttribute("class")).includes("weakening"));
  assert.ok((await last.innerText()).includes(TEXT.weakensOrg), "the weakening fix says so");
  assert.equal(await sdFixes.first().getAttribute("data-action"), "device-credential");
  await screenshot("troubleshooter-blocked");

  // One click on the first suggested fix, until the mailbox can send (bounded).
  let secret = null;
  const applied = [];
  for (let i = 0; i < 4 && (await page.locator("#ts-verdict").getAttribute("data-can-send")) === "no"; i++) {
    const first = page.locator('.ts-fix[data-recommended="yes"]').first();
    applied.push(await first.getAttribute("data-action"));
    await Promise.all([page.waitForNavigation(), first.locator("button.ts-apply").click()]);
    await expectLang();
    assert.ok((await page.locator("#notice").innerText()).includes(TEXT.applied));
    if (await page.locator("#secret").count()) secret = (await page.locator("#secret").innerText()).trim();
    await screenshot(`troubleshooter-fix-${i + 1}`);
  }
  assert.deepEqual(applied, ["smtp-auth-mailbox", "device-credential"], "least weakening first");
  assert.equal(await page.locator("#ts-verdict").getAttribute("data-can-send"), "yes");
  const after = await statuses();
  assert.equal(after["authenticated-smtp"], "pass");
  assert.equal(after["security-defaults"], "warns", "security defaults stay on");
  assert.equal(after["mfa"], "warns", "MFA stays on");
  assert.ok(secret && secret.startsWith("adc_"), `the device credential is shown once: ${secret}`);

  // The device sends with the device credential; the account password stays refused.
  assert.ok(swaks(USER_PASSWORD, true).includes("535 5.7.139"), "the password alone is still refused");
  const sent = swaks(secret, false);
  assert.ok(sent.includes("235 2.7.0 Authentication successful"), `swaks with the device credential:\n${sent}`);
  assert.match(sent, /250 2\.0\.0 OK queued as [0-9A-F]+/, `swaks with the device credential:\n${sent}`);
  console.log(`[${LANG}] after ${applied.join(", ")}: the device credential sends, message queued`);

  // Paste an error line → the explanation for that provider.
  await page.fill("#ts-reply", MFA);
  await Promise.all([page.waitForNavigation(), page.click("#ts-explain")]);
  assert.equal(await page.locator("#ts-explanation").getAttribute("data-known"), "yes");
  assert.ok((await page.locator("#ts-means").innerText()).trim().length > 10);
  assert.ok((await page.locator("#ts-how").innerText()).trim().length > 10);
  await expectLang();
  // The answer is where the admin looks: scrolled into view, below the verdict and fixes.
  const inView = () =>
    page.locator("#ts-explanation").evaluate((el) => {
      const r = el.getBoundingClientRect();
      return r.top >= 0 && r.top < window.innerHeight;
    });
  assert.ok(await inView(), "the explanation is scrolled into view");
  await screenshot("troubleshooter-explain");
  // Microsoft's bare tenant line: Microsoft's answer, authrelay's reading after it.
  await page.fill("#ts-reply", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.");
  await Promise.all([page.waitForNavigation(), page.click("#ts-explain")]);
  assert.equal(await page.locator("#ts-explanation").getAttribute("data-entry"), "m365-smtp-auth-disabled-tenant");
  assert.equal(await page.locator("#ts-also-ours").getAttribute("data-entry"), "ours-smtp-auth-disabled-tenant");
  assert.ok(await inView(), "the explanation is scrolled into view");

  // The report counts the message sent (written off the SMTP hot path; bounded wait).
  let count = "";
  for (let i = 0; i < 30 && count !== "1"; i++) {
    await page.goto(`${ADMIN_URL}/reports/smtp-auth`);
    const row = page.locator(`tr.report-row[data-user="${USER_ADDRESS}"] td.report-sent`);
    count = (await row.count()) ? (await row.innerText()).trim() : "";
    if (count !== "1") await page.waitForTimeout(200);
  }
  assert.equal(count, "1", "the SMTP AUTH clients report counts the message sent");
  assert.equal(await title(), TEXT.report);
  await screenshot("smtp-auth-report-sent");

  // The user panel lists the device credential (never its secret).
  await page.goto(`${ADMIN_URL}/users/${encodeURIComponent(USER_ADDRESS)}`);
  assert.equal(await page.locator('tr.dc-row[data-name="smtp-device"]').count(), 1);
  assert.ok(!(await page.content()).includes(secret), "the secret is shown only once");
  await screenshot("user-device-credentials");

  assert.deepEqual(problems, [], "no script errors in the pages");
  console.log(`[${LANG}] troubleshoot walk passed; ${shot} screenshots in ${SHOTS}`);
} catch (e) {
  await screenshot("failure").catch(() => {});
  console.error(`[${LANG}] troubleshoot walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
