// First-run setup: the one-time token travels in the URL fragment, so it never
// reaches server logs or Referer headers; we post it in the body.
const form = document.getElementById("setup-form");
const status = document.getElementById("status");
const token = decodeURIComponent(location.hash.slice(1));

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    token,
    username: form.username.value.trim(),
    password: form.password.value,
  };
  const res = await fetch("/api/setup", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (res.ok) {
    const link = document.createElement("a");
    link.href = "/console";
    link.textContent = "Sign in to the console";
    status.replaceChildren("Account created. ", link);
    history.replaceState(null, "", "/");
    form.hidden = true;
  } else {
    status.textContent = (data.error && data.error.message) || "Setup failed.";
  }
});
