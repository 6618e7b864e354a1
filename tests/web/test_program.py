"""A therapist plans a household's weekly series in the console; a member joins
occurrence 1 from their one personal link (real Chromium, real server)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import PASSWORD, Server, new_page, shot
from tests.web.test_flow import prejoin


def sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/console")
    page.fill("#si-username", "dr.rivera")
    page.fill("#si-password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#sessions")).to_be_visible(timeout=20000)


def test_household_weekly_series_and_join_from_series_link(browser: Browser,
                                                           server: Server) -> None:
    dr = new_page(browser)
    dr.on("dialog", lambda d: d.accept())
    sign_in(dr, server)
    expect(dr.locator("#whoami")).to_contain_text("dr.rivera")
    dr.click('#nav button[data-go="program"]')
    expect(dr.locator("#program")).to_be_visible()

    dr.fill("#hh-label", "Rivera household")
    dr.fill("#hm-name-0", "Maria")
    dr.select_option("#hm-role-0", "client")
    dr.fill("#hm-email-0", "maria@example.org")
    dr.click("#hh-add-member")
    dr.fill("#hm-name-1", "Ben")
    dr.select_option("#hm-role-1", "partner")
    shot(dr, "program-household-form")
    dr.click("#new-household button[type=submit]")
    expect(dr.locator("#household-title")).to_have_text("Rivera household")
    expect(dr.locator("#household-members tbody tr")).to_have_count(2)

    # Editing a person in place: the form fills, saves, and focus returns to their row.
    dr.click('button[aria-label="Edit Ben"]')
    expect(dr.locator("#am-title")).to_have_text("Edit Ben")
    expect(dr.locator("#am-name")).to_be_focused()
    expect(dr.locator("#am-role")).to_have_value("partner")
    dr.fill("#am-emergency", "Ana, +1 555 0100")
    dr.click("#am-submit")
    expect(dr.locator("#household-status")).to_have_text("Ben saved.")
    expect(dr.locator('button[aria-label="Edit Ben"]')).to_be_focused()
    expect(dr.locator("#am-title")).to_have_text("Add a person")
    expect(dr.locator("#household-members tbody tr")).to_have_count(2)

    # A weekly series whose first session starts in five minutes (UTC, the clinic's zone).
    start = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    dr.check(f'#sr-days input[value="{start.weekday()}"]')
    dr.fill("#sr-time", start.strftime("%H:%M"))
    dr.fill("#sr-first", start.strftime("%Y-%m-%d"))
    dr.fill("#sr-count", "12")
    expect(dr.locator("#sr-tz")).to_have_value("UTC")
    dr.click("#new-series button[type=submit]")
    expect(dr.locator("#series-title")).to_have_text("Rivera household: weekly series")
    expect(dr.locator("#occurrences tbody tr")).to_have_count(12)
    first_when = dr.locator('#occurrences tr[data-occurrence="0"] td').nth(1)
    expect(first_when).to_contain_text("UTC")
    expect(dr.locator("#series-when")).to_contain_text("Time zone: UTC")

    dr.click('button[data-reissue-for="Maria"]')
    link_box = dr.locator('input[data-link-for="Maria"]')
    expect(link_box).to_be_visible()
    link = link_box.input_value()
    # Shown again after a reload, unchanged (showing never revokes).
    dr.click('#nav button[data-go="program"]')
    dr.click('button[data-series]')
    expect(dr.locator('input[data-link-for="Maria"]')).to_have_value(link)
    expect(dr.locator('a[data-ics-for="Maria"]')).to_be_visible()
    expect(dr.locator('button[data-reissue-for="Maria"]')).to_have_text(
        "Revoke and issue a new link")
    # Ben will not attend the second session: the page says so by name.
    row = dr.locator('#occurrences tr[data-occurrence="1"]')
    row.locator("select").select_option(label="Ben")
    row.get_by_role("button", name="Mark not attending / attending").click()
    expect(dr.locator('#occurrences tr[data-occurrence="1"] td').nth(2)).to_contain_text(
        "not attending: Ben")
    shot(dr, "program-series")

    maria = new_page(browser)
    prejoin(maria, link)
    expect(maria.locator("#screen-lobby")).to_be_visible()

    with dr.expect_popup() as popup:
        dr.click('#occurrences button[data-open="0"]')
    room = popup.value
    room.set_default_timeout(20000)
    prejoin(room, room.url)
    expect(room.locator("#screen-session")).to_be_visible()
    room.click("#tab-people")
    room.click("#admit-all")
    expect(maria.locator("#screen-session")).to_be_visible()
    shot(maria, "program-member-joined")

    # The household page shows the weekly target and each person's hours this week.
    dr.click('#nav button[data-go="program"]')
    dr.click('button[data-household]')
    expect(dr.locator("#records-household")).to_be_visible()
    dr.fill("#ht-hours", "9")
    dr.click("#household-target button[type=submit]")
    expect(dr.locator("#records-household .records-status")).to_have_text("Target saved.")
    expect(dr.locator("#ht-hours")).to_be_focused()
    expect(dr.locator("#ht-hours")).to_have_value("9")
    maria_row = dr.locator("#household-attendance tbody tr", has_text="Maria")
    expect(maria_row).to_contain_text("(below target)")
    expect(dr.locator("#household-attendance caption")).to_contain_text("Last four weeks")


def test_too_early_page_says_when_in_the_persons_own_zone(browser: Browser,
                                                          server: Server) -> None:
    dr = new_page(browser)
    sign_in(dr, server)
    dr.click('#nav button[data-go="program"]')
    dr.fill("#hh-label", "Okafor household")
    dr.fill("#hm-name-0", "Ada")
    dr.click("#new-household button[type=submit]")
    expect(dr.locator("#household-title")).to_have_text("Okafor household")
    # Tomorrow, 19:00 in New York; the person reads it in Berlin time.
    day = dt.date.today() + dt.timedelta(days=2)
    dr.check(f'#sr-days input[value="{day.weekday()}"]')
    dr.fill("#sr-time", "19:00")
    dr.fill("#sr-first", day.isoformat())
    dr.fill("#sr-count", "4")
    dr.fill("#sr-tz", "America/New_York")
    dr.click("#new-series button[type=submit]")
    expect(dr.locator("#occurrences tbody tr")).to_have_count(4)
    dr.click('button[data-reissue-for="Ada"]')
    link = dr.locator('input[data-link-for="Ada"]').input_value()

    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  timezone_id="Europe/Berlin", locale="en-GB")
    ada = context.new_page()
    ada.set_default_timeout(15000)
    ada.goto(link)  # refused as the page opens: no pre-join for a session not open yet
    expect(ada.locator("#notice-title")).to_have_text("Not open yet")
    berlin = dt.datetime(day.year, day.month, day.day, 19, 0,
                         tzinfo=ZoneInfo("America/New_York")).astimezone(ZoneInfo("Europe/Berlin"))
    text = ada.locator("#notice-text")
    expect(text).to_contain_text("The next session starts")
    expect(text).to_contain_text(berlin.strftime("%H:%M"))
    expect(text).to_contain_text("your time, Europe/Berlin")
    shot(ada, "program-too-early")
