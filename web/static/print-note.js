// The printable progress note: one button opens the browser's print dialog, where
// "Save as PDF" gives the PDF a clinic files. Focus starts on it for keyboard users.
const button = document.getElementById("print-note");
if (button) {
  button.addEventListener("click", () => window.print());
  button.focus();
}
