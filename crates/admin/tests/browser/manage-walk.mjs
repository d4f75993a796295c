// The management pages in a real Chromium (issue 20): send-as grants, renaming a mailbox (a
// refused domain comes back in place with the input kept; after the rename the device signs in
// with the new address and the old one is refused), an organisation's limits, a DKIM key (the
// record shown is printed for the Rust side to verify a signed message with, and its copy
// button announces the copy), an admin's role, authenticator reset and removal, and deleting a
// mailbox after its confirmation (then its AUTH is refused). Run by
// crates/authrelay/tests/admin_manage_browser.rs with ADMIN_URL, ADMIN_ADDRESS,
// ADMIN_PASSWORD, SMTP_PORT, USER_PASSWORD, WALK_LANG, SCREENSHOT_DIR, CHROMIUM.

import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { env, launch, localizationLeaks, swaks } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const LANG = env("WALK_LANG", "en");
const PORT = env("SMTP_PORT");
const PASSWORD = env("USER_PASSWORD");
const SHOTS = path.join(env("SCREENSHOT_DIR"), LANG);
const TEXT = {
  en: { copied: "Copied", selected: "Selected" },
  ko: { copied: "복사했습니다", selected: "선택했습니다" },
  id: { copied: "Tersalin", selected: "Terpilih" },
}[LANG];
assert.ok(TEXT, `unknown language ${LANG}`);
const accepted = (out) => /250 2\.0\.0 OK queued/.test(out);
const authRefused = (out) => /535 /.test(out);

fs.mkdirSync(SHOTS, { recursive: true });
const { context, page, problems, close } = await launch(env("CHROMIUM", "/usr/bin/chromium"), LANG);
const shot = (name) => page.screenshot({ path: path.join(SHOTS, `manage-${name}-${LANG}.png`), fullPage: true });
const leaks = [];
const check = async () => leaks.push(...(await localizationLeaks(page, LANG)).map((l) => `${page.url()}: ${l}`));
const submit = (selector) => Promise.all([page.waitForNavigation(), page.click(selector)]);
try {
  await page.goto(`${ADMIN_URL}/signin`);
  if (LANG === "id") await Promise.all([page.waitForNavigation(), page.selectOption("#lang-switch", "id")]);
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await submit("#signin-submit");

  // Send as: a bad address comes back in place with the input kept; a good one is listed.
  await page.goto(`${ADMIN_URL}/users/scanner@contoso.com`);
  await submit("#manage-send-as");
  await page.fill("#send-as-address", "not an address");
  await submit("#add-send-as");
  assert.equal(await page.locator("#send-as-address").inputValue(), "not an address");
  assert.equal(await page.locator("#send-as-address").getAttribute("aria-invalid"), "true");
  assert.ok(await page.locator("#send-as-error").isVisible());
  await page.fill("#send-as-address", "noreply@contoso.com");
  await submit("#add-send-as");
  assert.equal(await page.locator("tr.send-as-row").count(), 1);
  assert.equal(await page.locator("tr.send-as-row").getAttribute("data-address"), "noreply@contoso.com");
  await check();
  await shot("send-as");

  // Rename: another organisation's domain is refused in place; then a domain of its own.
  assert.ok(accepted(swaks({ port: PORT, user: "scanner@contoso.com", password: PASSWORD, subject: "before" })));
  await page.goto(`${ADMIN_URL}/users/scanner@contoso.com`);
  await submit("#rename-user");
  await page.fill("#new-address", "mfp@northwind.test");
  await submit("#rename");
  assert.equal(await page.locator("#new-address").inputValue(), "mfp@northwind.test");
  assert.equal(await page.locator("#new-address-error").getAttribute("data-code"), "other-org");
  await shot("rename-refused");
  await page.fill("#new-address", "mfp@contoso.com");
  await submit("#rename");
  assert.ok(page.url().endsWith("/users/mfp@contoso.com?done=renamed"), page.url());
  assert.ok(await page.locator("#notice").isVisible());
  assert.ok(accepted(swaks({ port: PORT, user: "mfp@contoso.com", password: PASSWORD, subject: "after rename" })),
    "the new address signs in with the same password");
  assert.ok(authRefused(swaks({ port: PORT, user: "scanner@contoso.com", password: PASSWORD, subject: "old", quitAfterAuth: true })),
    "the old address is refused");

  // Limits: a typo comes back at its field; a number is saved and shown again.
  await page.goto(`${ADMIN_URL}/org/Contoso`);
  await submit("#manage-limits");
  await page.fill("#limit-max_recipients", "lots");
  await submit("#save-limits");
  assert.equal(await page.locator("#limit-max_recipients").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#limit-max_recipients").inputValue(), "lots");
  await page.fill("#limit-max_recipients", "25");
  await submit("#save-limits");
  assert.equal(await page.locator("#limit-max_recipients").inputValue(), "25");
  await check();
  await shot("limits");

  // DKIM: create a key for contoso.com; the record is shown with a copy button that says so.
  await page.goto(`${ADMIN_URL}/org/Contoso`);
  await submit("#manage-dkim");
  const domain = page.locator('section.dkim-domain[data-domain="contoso.com"]');
  await domain.locator("select[name=algorithm]").selectOption("rsa");
  await domain.locator("input[name=selector]").fill("walk1");
  await Promise.all([page.waitForNavigation(), domain.locator("button.dkim-generate-button").click()]);
  assert.ok(await page.locator("#dkim-made").isVisible());
  const key = page.locator('section.dkim-domain[data-domain="contoso.com"] .dkim-key[data-selector="walk1"]');
  const record = (await key.locator("code.dkim-record").innerText()).trim();
  assert.match(record, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/);
  assert.equal((await key.locator("code.dkim-record-name").innerText()).trim(), "walk1._domainkey.contoso.com");
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: ADMIN_URL });
  await key.locator("button.copy").click();
  await page.waitForFunction(() => document.getElementById("copy-status")?.textContent.length > 0);
  const said = await page.locator("#copy-status").innerText();
  assert.ok(said.startsWith(TEXT.copied) || said.startsWith(TEXT.selected), said);
  assert.equal(await page.locator("#copy-status").getAttribute("aria-live"), "polite");
  if (said.startsWith(TEXT.selected)) {
    assert.equal(await page.evaluate(() => window.getSelection().toString().trim()), record, "the fallback selects the record");
  }
  await check();
  await shot("dkim");
  console.log(`DKIM_RECORD=${record}`);

  // Admin accounts: change the helpdesk admin's role, reset their authenticator, remove them.
  await page.goto(`${ADMIN_URL}/admins`);
  await submit('a.admin-link:text-is("helpdesk@contoso.com")');
  await page.selectOption("#admin-new-role", "reports");
  await submit("#change-role");
  assert.ok(page.url().includes("done=saved"), page.url());
  await submit("#reset-totp");
  assert.ok(page.url().includes("done=totp-reset"), page.url());
  await check();
  await shot("admin");
  await submit("#remove-admin");
  await check();
  await shot("admin-remove");
  await submit("#confirm-remove");
  assert.equal(await page.locator('a.admin-link:text-is("helpdesk@contoso.com")').count(), 0);
  // Their own account: no removal offered.
  await page.goto(`${ADMIN_URL}/admins/${env("ADMIN_ADDRESS")}`);
  assert.equal(await page.locator("#remove-admin").count(), 0);
  assert.ok(await page.locator("#own-account").isVisible());

  // Delete a mailbox: the confirmation names what goes; afterwards it cannot sign in.
  assert.ok(accepted(swaks({ port: PORT, user: "old@contoso.com", password: PASSWORD, subject: "old box" })));
  await page.goto(`${ADMIN_URL}/users/old@contoso.com`);
  await submit("#delete-user");
  for (const id of ["#goes-password", "#goes-app-passwords", "#goes-device-credentials", "#goes-send-as", "#goes-sessions", "#stays-queue"]) {
    assert.ok(await page.locator(id).isVisible(), id);
  }
  await check();
  await shot("delete");
  await submit("#confirm-delete");
  assert.ok(page.url().includes("/users?done=user-deleted"), page.url());
  assert.ok(authRefused(swaks({ port: PORT, user: "old@contoso.com", password: PASSWORD, subject: "gone", quitAfterAuth: true })));

  assert.deepEqual(leaks, [], "pages show English values, raw ids or RFC 3339 times");
  // The refused forms answer 422 on purpose (the page comes back with the error in place).
  const unexpected = problems.filter((p) => !/status of 422 /.test(p));
  assert.deepEqual(unexpected, [], "script errors on the pages");
  console.log(`[${LANG}] manage walk passed`);
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(`[${LANG}] manage walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
