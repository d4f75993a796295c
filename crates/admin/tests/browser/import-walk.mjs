// Import from Microsoft 365 in a real Chromium against a real server (issue 14): the admin
// uploads the three exports, reads the plan (TLS 1.0/1.1 senders flagged, the mailbox Microsoft
// had switched off still refused), applies it, gets one setup sheet per device (checked field by
// field, downloaded, and printed to PDF: one page per device), a real device (swaks) sends with
// the scanner's sheet, the cutover checklist shows it done, and the same files again change
// nothing. Every change is in the audit log.
//
// Run by crates/authrelay/tests/admin_import_browser.rs: ADMIN_URL, ADMIN_ADDRESS,
// ADMIN_PASSWORD, SMTP_PORT, WALK_LANG (en | ko | id), REPORT, MAILBOXES, ORG_SETTINGS,
// SCREENSHOT_DIR, CHROMIUM, OUT_DIR (where the downloaded sheets and the PDF go).

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { env, launch, swaks, totp } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const LANG = env("WALK_LANG", "en");
const SHOTS = path.join(env("SCREENSHOT_DIR"), LANG);
const OUT = env("OUT_DIR");
const SMTP_PORT = env("SMTP_PORT");

const TEXT = {
  en: { import: "Import from Microsoft 365", checklist: "Cutover checklist", done: "done", sheet: "Setup sheet: ", legacy: "used old TLS" },
  ko: { import: "Microsoft 365에서 가져오기", checklist: "전환 점검표", done: "완료", sheet: "설정 안내서: ", legacy: "오래된 TLS" },
  id: { import: "Impor dari Microsoft 365", checklist: "Daftar periksa peralihan", done: "selesai", sheet: "Lembar penyiapan: ", legacy: "TLS lama" },
}[LANG];
assert.ok(TEXT, `unknown language ${LANG}`);

fs.mkdirSync(SHOTS, { recursive: true });
const { page, problems, close } = await launch(env("CHROMIUM", "/usr/bin/chromium"), LANG);
let shot = 0;
async function screenshot(name) {
  shot += 1;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}
const title = async () => (await page.locator("#page-title").innerText()).trim();
const lang = async () => page.locator("html").getAttribute("lang");

async function upload() {
  await page.click("#nav-import");
  assert.equal(await title(), TEXT.import);
  assert.equal(await lang(), LANG);
  await page.setInputFiles("#import-report", env("REPORT"));
  await page.setInputFiles("#import-mailboxes", env("MAILBOXES"));
  await page.setInputFiles("#import-org-file", env("ORG_SETTINGS"));
  await page.fill("#import-org", "Contoso");
  await page.fill("#import-server", "127.0.0.1");
  await Promise.all([page.waitForNavigation(), page.click("#import-plan-button")]);
  await page.waitForSelector("#import-plan");
}

try {
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await page.click("#signin-submit");
  await page.waitForURL(/\/(signin\/totp)?$/);
  if (page.url().endsWith("/signin/totp")) {
    await page.fill("#code", totp((await page.locator("#totp-secret").innerText()).trim()));
    await page.click("#totp-submit");
    await page.waitForURL(`${ADMIN_URL}/`);
  }

  // A large tenant's report (well over the 64 KiB other forms may send) is read too.
  if (LANG === "en") {
    const big = path.join(OUT, "report-big.csv");
    const lines = ["Sender address,Domain,TLS 1.0,TLS 1.1,TLS 1.2,Messages sent"];
    for (let i = 0; i < 2500; i++) lines.push(`device-${String(i).padStart(4, "0")}-with-a-long-name@contoso.com,contoso.com,0%,0%,100%,${i}`);
    fs.writeFileSync(big, "\ufeff" + lines.join("\r\n") + "\r\n");
    assert.ok(fs.statSync(big).size > 150_000);
    await page.click("#nav-import");
    await page.setInputFiles("#import-report", big);
    await Promise.all([page.waitForNavigation(), page.click("#import-plan-button")]);
    await page.waitForSelector("#import-plan");
    assert.equal(await page.locator("tr.import-sender").count(), 2500);
  }

  // Upload → plan. Nothing is changed yet.
  await upload();
  const rows = await page.locator("tr.import-sender").evaluateAll((rs) => Object.fromEntries(rs.map((r) => [r.dataset.address, { ...r.dataset }])));
  assert.deepEqual(Object.keys(rows).sort(), ["erp@contoso.com", "fax@fabrikam.com", "mfp-2f@contoso.com", "rare-report@contoso.com", "scanner@contoso.com"]);
  assert.equal(rows["mfp-2f@contoso.com"].legacyTls, "yes");
  assert.equal(rows["fax@fabrikam.com"].legacyTls, "yes");
  assert.equal(rows["scanner@contoso.com"].legacyTls, "no");
  assert.equal(rows["fax@fabrikam.com"].blocked, "authenticated-smtp");
  assert.equal(rows["erp@contoso.com"].basic, "no");
  assert.equal(rows["rare-report@contoso.com"].inactive, "yes");
  assert.ok((await page.locator("#import-changes").innerText()).match(/\d/));
  await screenshot("plan");

  // Apply → the sheets, in the page's language.
  await Promise.all([page.waitForNavigation(), page.click("#import-apply-button")]);
  assert.equal(await lang(), LANG);
  const sheets = await page.locator("section.sheet").evaluateAll((ss) => ss.map((s) => ({
    address: s.dataset.address,
    legacy: s.dataset.legacyTls,
    heading: s.querySelector("h1").innerText,
    server: s.querySelector(".f-server").innerText.trim(),
    port: s.querySelector(".f-port").innerText.trim(),
    user: s.querySelector(".f-user").innerText.trim(),
    password: s.querySelector(".f-password").innerText.trim(),
    doctor: s.querySelector(".f-doctor").innerText,
    qr: !!s.querySelector(".qr svg"),
    tls: s.querySelector(".tls-advice").innerText,
  })));
  assert.equal(sheets.length, 5);
  for (const s of sheets) {
    assert.equal(s.heading, TEXT.sheet + s.address);
    assert.equal(s.server, "127.0.0.1");
    assert.equal(s.user, s.address);
    assert.match(s.password, /^adc_[a-z2-9]{8}_[a-z2-9]{32}$/);
    assert.ok(s.doctor.includes(`authrelay doctor ${s.address}`));
    assert.ok(s.qr, `QR code on ${s.address}'s sheet`);
    assert.equal(s.tls.includes(TEXT.legacy), s.legacy === "yes", s.address);
  }
  assert.equal(sheets.find((s) => s.address === "mfp-2f@contoso.com").legacy, "yes");
  // The page's own stylesheet applies (the CSP forbids inline styles): the banner is hidden in print.
  assert.equal(await page.locator(".banner").evaluate((b) => getComputedStyle(b).maxWidth), "680.315px");
  await screenshot("sheets");

  // Download: the same sheets as one file with its styles inline.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#import-download")]);
  const saved = path.join(OUT, `setup-sheets-${LANG}.html`);
  await download.saveAs(saved);
  const html = fs.readFileSync(saved, "utf8");
  assert.equal((html.match(/<section class="sheet"/g) || []).length, 5);
  for (const s of sheets) assert.ok(html.includes(s.password), `the download holds ${s.address}'s credential`);
  assert.ok(html.includes("@media print"));

  // Printed: one page per device.
  await page.emulateMedia({ media: "print" });
  const pdf = await page.pdf({ format: "A4", printBackground: true });
  fs.writeFileSync(path.join(OUT, `setup-sheets-${LANG}.pdf`), pdf);
  const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
  assert.equal(pages, 5, `the print stylesheet makes one page per device, got ${pages}`);
  await page.emulateMedia({ media: "screen" });

  // The scanner's technician types in the sheet's values; the device sends.
  const scanner = sheets.find((s) => s.address === "scanner@contoso.com");
  const sent = swaks({ port: SMTP_PORT, user: scanner.user, password: scanner.password, subject: "Scan 0044" });
  assert.ok(sent.includes("250 2.0.0 OK queued as"), sent);

  // The cutover checklist shows it done; the others not yet seen.
  await page.goto(`${ADMIN_URL}/import/status`);
  assert.equal(await title(), TEXT.checklist);
  const states = await page.locator("tr.import-status-row").evaluateAll((rs) => Object.fromEntries(rs.map((r) => [r.dataset.address, r.dataset.state])));
  assert.equal(states["scanner@contoso.com"], "done");
  assert.equal(states["mfp-2f@contoso.com"], "not-seen");
  assert.ok((await page.locator('tr[data-address="scanner@contoso.com"]').innerText()).includes(TEXT.done));
  await screenshot("checklist");

  // The same files again: nothing to change.
  await upload();
  await page.waitForSelector("#import-nothing");
  assert.equal(await page.locator("#import-apply-button").count(), 0);
  await screenshot("again");

  // Audited.
  await page.goto(`${ADMIN_URL}/audit`);
  const actions = await page.locator("tr.audit-row").evaluateAll((rs) => rs.map((r) => r.dataset.action));
  for (const action of ["org.create", "user.create", "user.smtp-auth", "user.device-credential-add", "import.m365-sender"]) {
    assert.ok(actions.includes(action), `audit log lacks ${action}: ${actions}`);
  }
  assert.ok(!(await page.locator("main").innerText()).includes("adc_"), "no secret in the audit log");
  assert.ok(!(await page.locator("main").innerText()).includes("action-"), "every action has a name");

  assert.deepEqual(problems, []);
  console.log(`import walk passed (${LANG})`);
} finally {
  await close();
}
