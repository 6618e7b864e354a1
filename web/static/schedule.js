// Join-page text for a link used outside its session's window: why, and when the
// (next) session starts, in the person's own time zone (from their browser).
export const SCHEDULE_ENDINGS = {
  outside_window: ["Not open yet", "Your link opens 15 minutes before each session."],
  cancelled: ["This session was cancelled", "Your therapist cancelled this session."],
  not_expected: ["Not expected today", "Your therapist has noted that you are not attending this session."],
  series_over: ["These sessions have ended", "There are no more sessions for this link."],
};
export const SCHEDULE_CODES = new Set(["not_yet_valid", "outside_window", "cancelled", "not_expected"]);

export function inYourZone(ts) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const text = new Intl.DateTimeFormat(undefined, {
    timeZone: zone, weekday: "long", day: "numeric", month: "long", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  }).format(new Date(ts * 1000));
  return `${text} (your time, ${zone})`;
}

export async function showNextStart(token, notice, ending) {
  try {
    const res = await fetch("/api/join/status", {
      method: "POST", headers: { "Content-Type": "application/json" },
      credentials: "same-origin", body: JSON.stringify({ token }),
    });
    const status = (await res.json()).ok;
    if (!status || !status.next_start) return;
    const lead = status.code === "not_yet_valid" ? "Your session starts" : "The next session starts";
    notice(ending[0], `${ending[1]} ${lead} ${inYourZone(status.next_start)}.`);
  } catch {
    // The notice without a time is already shown.
  }
}
