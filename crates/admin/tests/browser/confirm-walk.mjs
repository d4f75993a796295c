// Confirmations in a real Chromium (issue 20): turning security defaults off shows the mailbox
// and the device (swaks, seen in the sign-in log) it would let through, and Cancel keeps them
// on; revoking an app password shows its last use, Cancel keeps it and Confirm revokes it.
//
// Run by crates/authrelay/tests/admin_safety.rs, which seeds the server (security defaults on,
// Authenticated SMTP on for the mailbox, an app password "printer", the device refused once) and
// names it in the environment: ADMIN_URL, ADMIN_ADDRESS, ADMIN_PASSWORD, USER_ADDRESS, ORG_NAME,
// WALK_LANG, CHROMIUM.

import assert from "node:assert/strict";
import { env, launch, totp } from "./common.mjs";

const ADMIN_URL = env("ADMIN_URL");
const USER_ADDRESS = env("USER_ADDRESS");
const ORG_NAME = env("ORG_NAME");
const LANG = env("WALK_LANG", "en");
const { page, problems, close } = await launch(env("CHROMIUM", "/usr/bin/chromium"), LANG);

async function submit(selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

try {
  await page.goto(`${ADMIN_URL}/signin`);
  await page.fill("#address", env("ADMIN_ADDRESS"));
  await page.fill("#password", env("ADMIN_PASSWORD"));
  await submit("#signin-submit");
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  await page.fill("#code", totp(secret));
  await submit("#totp-submit");
  assert.equal(new URL(page.url()).pathname, "/");

  // Security defaults off: the preview names the mailbox and the device it would let through.
  const sd = `${ADMIN_URL}/org/${encodeURIComponent(ORG_NAME)}/security-defaults`;
  await page.goto(sd);
  await page.selectOption("#security-defaults", "off");
  await submit("#save-security-defaults");
  assert.ok(await page.locator("#confirm-change").isVisible(), "a confirmation, not the change");
  const mailboxes = await page.locator("#confirm-mailboxes li").allInnerTexts();
  assert.deepEqual(mailboxes.map((m) => m.trim()), [USER_ADDRESS], "the mailbox it lets through");
  const device = page.locator(`#confirm-let-through tr.confirm-device[data-user="${USER_ADDRESS}"]`);
  assert.equal(await device.count(), 1, "the device of the sign-in log it lets through");
  assert.equal(await device.getAttribute("data-ip"), "127.0.0.1");
  assert.equal(await device.getAttribute("data-credential"), "password");
  await submit("#confirm-cancel");
  assert.equal(new URL(page.url()).pathname, new URL(sd).pathname, "Cancel goes back");
  assert.equal(await page.locator("#security-defaults").inputValue(), "on", "Cancel changed nothing");
  // Now confirmed.
  await page.selectOption("#security-defaults", "off");
  await submit("#save-security-defaults");
  await submit("#confirm-change");
  assert.ok(await page.locator("#notice").isVisible());
  assert.equal(await page.locator("#security-defaults").inputValue(), "off");

  // Revoking the app password: asked first; Cancel keeps it, Confirm revokes it.
  const user = `${ADMIN_URL}/users/${encodeURIComponent(USER_ADDRESS)}`;
  const revokePrinter = async () => {
    await page.goto(user);
    const row = page.locator("tr", { has: page.locator('input[name=name][value="printer"]') });
    assert.equal(await row.count(), 1, "the app password is listed");
    await submit('form[action$="/app-passwords/revoke"]:has(input[value="printer"]) button');
    assert.ok(await page.locator("#confirm-change").isVisible(), "a confirmation, not the revocation");
    assert.ok(await page.locator("#confirm-facts").isVisible(), "its last use is shown");
  };
  await revokePrinter();
  await submit("#confirm-cancel");
  assert.equal(await page.locator('input[name=name][value="printer"]').count(), 1, "Cancel kept it");
  await revokePrinter();
  await submit("#confirm-change");
  assert.ok(await page.locator("#notice").isVisible());
  assert.equal(await page.locator('input[name=name][value="printer"]').count(), 0, "Confirm revoked it");

  assert.deepEqual(problems, [], "no script errors in the pages");
  console.log(`[${LANG}] confirm walk passed`);
} catch (e) {
  console.error(`[${LANG}] confirm walk failed at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await close();
}
