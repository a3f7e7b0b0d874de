import type { Page } from 'playwright-core';

/**
 * Follows the page's "Log in" link and fills the OpenID provider's login (and consent) forms
 * until the browser is back at rollgate (`rollgateUrl`).
 */
export async function logInThroughProvider(page: Page, rollgateUrl: string, login: string): Promise<void> {
  await page.locator('header a.login').click();
  await page.waitForURL((u) => !u.toString().startsWith(rollgateUrl));
  while (!page.url().startsWith(rollgateUrl)) {
    const name = page.locator('input[name=login]');
    if (await name.count()) {
      await name.fill(login);
      await page.locator('input[name=password]').fill('any password');
    }
    const at = page.url();
    await Promise.all([page.waitForURL((u) => u.toString() !== at), page.locator('button[type=submit]').first().click()]);
  }
}
