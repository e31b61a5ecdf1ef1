// Live preview of the portal header on the branding page (progressive enhancement).
// Colour fields carry data-brand-input="--brand" / "--accent"; a valid #rrggbb value is set
// as that custom property on the preview through the CSSOM (never a style attribute string).
// Without this module the preview shows the saved colours from /brand.css.
const HEX = /^#[0-9a-fA-F]{6}$/;
const preview = document.querySelector("[data-brand-preview]");
if (preview) {
  const sync = (input) => {
    const value = input.value.trim();
    if (HEX.test(value)) {
      preview.style.setProperty(input.dataset.brandInput, value.toLowerCase());
      if (input.dataset.brandInput === "--brand") {
        preview.style.setProperty("--brand-ink", "#ffffff");
      }
    }
  };
  for (const input of document.querySelectorAll("[data-brand-input]")) {
    input.addEventListener("input", () => sync(input));
    // a native colour picker beside the text field, kept in step with it
    const picker = document.createElement("input");
    picker.type = "color";
    picker.className = "swatch";
    picker.setAttribute("aria-label", `Pick ${input.labels[0] ? input.labels[0].textContent : "colour"}`);
    if (HEX.test(input.value.trim())) picker.value = input.value.trim().toLowerCase();
    picker.addEventListener("input", () => {
      input.value = picker.value;
      sync(input);
    });
    input.addEventListener("input", () => {
      if (HEX.test(input.value.trim())) picker.value = input.value.trim().toLowerCase();
    });
    input.insertAdjacentElement("afterend", picker);
  }
  for (const input of document.querySelectorAll("[data-brand-text]")) {
    const target = preview.querySelector(`[data-brand-preview-text="${input.dataset.brandText}"]`);
    if (target) input.addEventListener("input", () => { target.textContent = input.value; });
  }
}
