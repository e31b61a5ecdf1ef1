// Inside an embedded portal page (?embed=1): tell the page around the frame how tall we are.
// Only a height is sent (nothing about the patient), so any embedding page may read it; the
// clinic's resize script (embed.js) checks that the message comes from the portal's origin.
if (window.parent !== window) {
  const send = () => {
    const height = Math.ceil(document.documentElement.scrollHeight);
    window.parent.postMessage({ similia: "resize", height }, "*");
  };
  send();
  window.addEventListener("load", send);
  if ("ResizeObserver" in window) new ResizeObserver(send).observe(document.body);
}
