// The seed's story, walked through the admin center in a real Chromium against a real server:
// an admin signs in (enrolling TOTP, since security defaults are on), applies the three fixes in
// the places the seed names them, a real SMTP client (swaks) is refused before each fix and
// accepted after the last, and the Sign-in logs page shows the earlier failures with their
// reasons. Screenshots of every page go to $SCREENSHOT_DIR/<lang>/.
//
// Run by crates/authrelay/tests/admin_browser.rs, which starts the server and seeds it; the
// environment names the server and the language under test:
//   ADMIN_URL, ADMIN_ADDRESS, ADMIN_PASSWORD, SMTP_PORT, USER_ADDRESS, USER_PASSWORD, ORG_NAME,
//   WALK_LANG (en | ko | id), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
//
// Korean is chosen through Accept-Language (the browser's locale); Indonesian through the
// language switcher on the sign-in page, which must then stick for the whole walk.

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { env, launch, localizationLeaks, swaks as device, totp, MFA, SECURITY_DEFAULTS, TENANT } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const ADMIN_ADDRESS = env("ADMIN_ADDRESS");
const ADMIN_PASSWORD = env("ADMIN_PASSWORD");
const SMTP_PORT = env("SMTP_PORT");
const USER_ADDRESS = env("USER_ADDRESS");
const USER_PASSWORD = env("USER_PASSWORD");
const ORG_NAME = env("ORG_NAME");
const LANG = env("WALK_LANG", "en");
const SHOTS = path.join(env("SCREENSHOT_DIR"), LANG);
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");

// What each page must say in the language under test (a few words per page, so a page that
// fell back to English or lost a translation fails the walk).
const TEXT = {
  en: {
    signin: "Sign in to the admin center", users: "Active users", emailApps: "Manage email apps",
    securityDefaults: "Security defaults", mfa: "Multi-factor authentication", signins: "Sign-in logs",
    checkSmtp: "Authenticated SMTP", checkSd: "Security defaults", checkMfa: "Multi-factor authentication",
    report: "SMTP AUTH clients report", queue: "Queue", audit: "Audit log", saved: "Saved.",
  },
  ko: {
    signin: "관리 센터에 로그인", users: "활성 사용자", emailApps: "이메일 앱 관리",
    securityDefaults: "보안 기본값", mfa: "다단계 인증(MFA)", signins: "로그인 로그",
    checkSmtp: "인증된 SMTP", checkSd: "보안 기본값", checkMfa: "다단계 인증(MFA)",
    report: "SMTP AUTH 클라이언트 보고서", queue: "큐", audit: "감사 로그", saved: "저장했습니다.",
  },
  id: {
    signin: "Masuk ke pusat admin", users: "Pengguna aktif", emailApps: "Kelola aplikasi email",
    securityDefaults: "Default keamanan", mfa: "Autentikasi multifaktor (MFA)", signins: "Log masuk",
    checkSmtp: "SMTP Terautentikasi", checkSd: "Default keamanan", checkMfa: "Autentikasi multifaktor (MFA)",
    report: "Laporan klien SMTP AUTH", queue: "Antrean", audit: "Log audit", saved: "Tersimpan.",
  },
}[LANG];
assert.ok(TEXT, `unknown language ${LANG}`);

// --- The device: swaks over STARTTLS ----------------------------------------------------------
function swaks(quitAfterAuth) {
  return device({ port: SMTP_PORT, user: USER_ADDRESS, password: USER_PASSWORD, subject: "Scan 0042", quitAfterAuth });
}
function expectRefused(reply, step) {
  const out = swaks(true);
  assert.ok(out.includes(reply), `${step}: expected "${reply}" from swaks, got:\n${out}`);
  console.log(`[${LANG}] ${step}: refused as expected: ${reply.slice(0, 60)}…`);
}

// --- The browser ------------------------------------------------------------------------------
fs.mkdirSync(SHOTS, { recursive: true });
const { page, problems, close } = await launch(CHROMIUM, LANG);

let shot = 0;
const leaks = [];
async function screenshot(name) {
  for (const leak of await localizationLeaks(page, LANG)) leaks.push(`${name}: ${leak}`);
  shot += 1;
  const file = path.join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}
async function title() {
  return (await page.locator("#page-title").innerText()).trim();
}
async function expectLang() {
  assert.equal(await page.locator("html").getAttribute("lang"), LANG, `page ${page.url()} is not in ${LANG}`);
}

try {
  // Sign in.
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") {
    // The switcher posts the choice (with the form's CSRF token) and the cookie keeps it.
    await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  }
  await expectLang();
  assert.equal((await page.locator("h1").innerText()).trim(), TEXT.signin);
  await screenshot("signin");
  await page.fill("#address", ADMIN_ADDRESS);
  await page.fill("#password", ADMIN_PASSWORD);
  await page.click("#signin-submit");

  // Security defaults are on: the admin enrols an authenticator app (QR code), then gives a code.
  await page.waitForURL("**/signin/totp");
  await expectLang();
  assert.equal(await page.locator("#totp-qr svg").count(), 1, "the enrolment page shows a QR code");
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  await screenshot("totp-enrol");
  await page.fill("#code", totp(secret));
  await page.click("#totp-submit");
  await page.waitForURL(`${ADMIN_URL}/`);
  await expectLang();
  await screenshot("home");

  // The device is refused: SMTP AUTH is off for the tenant.
  expectRefused(TENANT, "before the fixes");

  // Fix 1: Active users → user → Mail → Manage email apps → Authenticated SMTP.
  await page.click("#nav-users");
  assert.equal(await title(), TEXT.users);
  await screenshot("active-users");
  await page.click(`a.user-link[data-address="${USER_ADDRESS}"]`);
  await page.click("#tab-mail");
  await screenshot("user-mail");
  await page.click("#manage-email-apps");
  assert.equal(await title(), TEXT.emailApps);
  // The mailbox follows the organisation (the third state), so the box is greyed and off.
  assert.ok(await page.isChecked("#follow-org"), "a new mailbox follows the organisation");
  assert.ok(await page.isDisabled("#smtp-auth"), "the box is locked while following the organisation");
  await screenshot("manage-email-apps");
  await page.uncheck("#follow-org");
  await page.check("#smtp-auth");
  await page.click("#save-email-apps");
  await page.waitForSelector("#notice");
  assert.ok((await page.locator("#notice").innerText()).startsWith(TEXT.saved));
  assert.ok(await page.isChecked("#smtp-auth"));
  assert.ok(!(await page.isChecked("#follow-org")));
  await screenshot("manage-email-apps-saved");
  // Ticking and unticking "follow the organisation" must give the box back the mailbox's own
  // choice; Save must not turn the mailbox's Authenticated SMTP off behind the admin's back.
  await page.check("#follow-org");
  assert.ok(!(await page.isChecked("#smtp-auth")), "following shows the organisation's value (off)");
  assert.ok(await page.isDisabled("#smtp-auth"));
  await page.uncheck("#follow-org");
  assert.ok(await page.isChecked("#smtp-auth"), "unticking follow restores the mailbox's own choice");
  await page.click("#save-email-apps");
  await page.waitForSelector("#notice");
  assert.ok(await page.isChecked("#smtp-auth"), "the mailbox's setting survived the round trip");
  assert.ok(!(await page.isChecked("#follow-org")));
  expectRefused(SECURITY_DEFAULTS, "after Authenticated SMTP");

  // Fix 2: Organisation → Properties → Manage security defaults.
  await page.click("#nav-org");
  await page.click(`a.org-link[data-name="${ORG_NAME}"]`);
  await screenshot("org-properties");
  await page.click("#manage-security-defaults");
  assert.equal(await title(), TEXT.securityDefaults);
  await page.selectOption("#security-defaults", "off");
  await page.selectOption("#reason", "legacy-smtp-devices");
  await screenshot("security-defaults");
  await page.click("#save-security-defaults");
  // Turning security defaults off weakens every mailbox: a confirmation page asks first.
  await page.waitForSelector("#confirm-change");
  await screenshot("security-defaults-confirm");
  await page.click("#confirm-change");
  await page.waitForSelector("#notice");
  assert.equal(await page.locator("#security-defaults").inputValue(), "off");
  expectRefused(MFA, "after security defaults");

  // Fix 3: Multi-factor authentication → user → Disable.
  await page.click("#nav-mfa");
  assert.equal(await title(), TEXT.mfa);
  assert.equal(await page.locator(`a.mfa-user-link[data-address="${USER_ADDRESS}"]`).count(), 1);
  await screenshot("mfa");
  await page.click(`a.mfa-user-link[data-address="${USER_ADDRESS}"]`);
  assert.equal(await page.locator("#mfa-state").getAttribute("data-state"), "enabled");
  await screenshot("mfa-user");
  await page.click("#mfa-disable");
  await page.waitForSelector("#notice");
  assert.equal(await page.locator("#mfa-state").getAttribute("data-state"), "disabled");

  // The device now signs in and its message is queued.
  const sent = swaks(false);
  assert.ok(sent.includes("235 2.7.0 Authentication successful"), `swaks after the fixes:\n${sent}`);
  assert.match(sent, /250 2\.0\.0 OK queued as [0-9A-F]+/, `swaks after the fixes:\n${sent}`);
  console.log(`[${LANG}] after the three fixes: 235 2.7.0 Authentication successful, message queued`);

  // Sign-in logs: the three failures with their deciding check and reply, then the success.
  await page.click("#nav-signins");
  assert.equal(await title(), TEXT.signins);
  await expectLang();
  const rows = page.locator("tr.signin-row");
  const seen = [];
  for (let i = 0; i < (await rows.count()); i++) {
    const row = rows.nth(i);
    seen.push({
      check: await row.getAttribute("data-check"),
      success: await row.getAttribute("data-success"),
      checkText: (await row.locator("td.check").innerText()).trim(),
      reply: (await row.locator("td.reply").innerText()).trim(),
    });
  }
  const find = (check) => seen.find((r) => r.check === check);
  for (const [check, reply, label] of [
    ["authenticated-smtp", TENANT, TEXT.checkSmtp],
    ["security-defaults", SECURITY_DEFAULTS, TEXT.checkSd],
    ["mfa", MFA, TEXT.checkMfa],
  ]) {
    const r = find(check);
    assert.ok(r, `sign-in log lacks the ${check} failure: ${JSON.stringify(seen)}`);
    assert.equal(r.success, "false");
    assert.equal(r.reply, reply);
    assert.equal(r.checkText, label);
  }
  assert.equal(find("accepted")?.success, "true", "the sign-in log shows the accepted attempt");
  await screenshot("signin-logs");

  // The rest of the admin center, for the record.
  await page.click("#nav-reports");
  assert.equal(await title(), TEXT.report);
  assert.ok((await page.locator("#report-table").innerText()).includes(USER_ADDRESS));
  await screenshot("smtp-auth-report");
  await page.click("#nav-queue");
  assert.equal(await title(), TEXT.queue);
  await screenshot("queue");
  await page.click("#nav-audit");
  assert.equal(await title(), TEXT.audit);
  const actions = await page.locator("tr.audit-row").evaluateAll((rs) => rs.map((r) => r.dataset.action));
  for (const a of ["user.smtp-auth", "org.security-defaults", "user.mfa", "admin.totp-enrolled"]) {
    assert.ok(actions.includes(a), `audit log lacks ${a}: ${actions}`);
  }
  await screenshot("audit-log");

  // Refused forms come back in place (issue 20): the field's error next to it, the input kept,
  // never the generic error page.
  async function refused(url, fill, submit, field, kept) {
    await page.goto(`${ADMIN_URL}${url}`);
    for (const [sel, value] of fill) await page.fill(sel, value);
    await Promise.all([page.waitForNavigation(), page.click(submit)]);
    await expectLang();
    const error = page.locator(`#${field}-error`);
    assert.ok(await error.isVisible(), `${url}: no error at #${field}`);
    assert.ok((await error.innerText()).trim().length > 10, `${url}: the error says why`);
    assert.equal(await page.locator(".field-error").count(), 1, `${url}: one error, at its field`);
    assert.equal(await page.locator(`#${field}`).getAttribute("aria-invalid"), "true");
    assert.equal(await page.locator(".signin #error, main > .error#error").count(), 0, `${url}: not the generic error page`);
    if (kept) assert.equal(await page.inputValue(kept[0]), kept[1], `${url}: the input is kept`);
    // The browser runs autofocus at its next rendering step, not at once when the page loads.
    const focused = await page
      .waitForFunction((id) => document.activeElement?.id === id, field, { timeout: 5000 })
      .then(() => true, () => false);
    assert.ok(focused, `${url}: focus on the field`);
  }
  const user = `/users/${encodeURIComponent(USER_ADDRESS)}`;
  await refused("/admins", [["#admin-address", "helpdesk@contoso.com"], ["#admin-password", "short"]], "#add-admin", "admin-password", ["#admin-address", "helpdesk@contoso.com"]);
  await screenshot("inline-error-admin");
  await refused("/admins", [["#admin-address", ADMIN_ADDRESS], ["#admin-password", "An0ther-Strong-Pass!"]], "#add-admin", "admin-address", ["#admin-address", ADMIN_ADDRESS]);
  await refused(user, [["#dc-name", "copier"], ["#dc-allow", "10.0.0.300/8"]], "#add-device-credential", "dc-allow", ["#dc-name", "copier"]);
  await screenshot("inline-error-device-credential");
  await refused(user, [["#new-password", "short"]], "#reset-password", "new-password", null);
  await refused(`/org/${encodeURIComponent(ORG_NAME)}`, [["#domain", "not_a domain"]], "#add-domain", "domain", ["#domain", "not_a domain"]);
  await refused("/org", [["#org-name", ORG_NAME], ["#org-domain", "new.example"]], "#add-org", "org-name", ["#org-domain", "new.example"]);
  await screenshot("inline-error-org");
  // The refused forms answer with the API's status (409, 422), which Chromium logs as a failed
  // load; those lines are expected, any other is still a problem.
  const expected = /responded with a status of (409|422)/;
  problems.splice(0, problems.length, ...problems.filter((p) => !expected.test(p)));

  await page.click("#signout");
  await page.waitForURL("**/signin");

  assert.deepEqual(problems, [], "no script errors in the pages");
  assert.deepEqual(leaks, [], "pages show English values, raw ids or RFC 3339 times");
  console.log(`[${LANG}] seed walk passed; ${shot} screenshots in ${SHOTS}`);
} catch (e) {
  await screenshot("failure").catch(() => {});
  console.error(`[${LANG}] seed walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
