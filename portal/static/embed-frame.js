// Inside an embedded portal page (?embed=1): tell the page around the frame how tall we are.
// Only a height is sent (nothing about the patient), so any embedding page may read it; the
// clinic's resize script (embed.js) checks that the message comes from the portal's origin.
//
// The height is the content's own height (the body's box plus its margins), not the
// document's scrollHeight: scrollHeight never drops below the frame's viewport, so a frame
// could grow but never shrink, and a page whose layout reacts to the frame's size could feed
// back into itself. A message goes out only when the height really changed, at most once per
// animation frame, and again when the page around asks (its script may load after ours).
if (window.parent !== window) {
  let last = -1;
  let queued = false;
  const measure = () => {
    queued = false;
    const body = document.body;
    const style = getComputedStyle(body);
    const height = Math.ceil(
      body.getBoundingClientRect().height +
        parseFloat(style.marginTop || "0") +
        parseFloat(style.marginBottom || "0"),
    );
    if (height === last) return;
    last = height;
    window.parent.postMessage({ similia: "resize", height }, "*");
  };
  const send = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(measure);
  };
  send();
  window.addEventListener("load", send);
  // the page around may start listening after our first message (its script loads later):
  // it then asks, and gets the height again
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data || event.data.similia !== "measure") return;
    last = -1;
    send();
  });
  if ("ResizeObserver" in window) new ResizeObserver(send).observe(document.body);
}
