// Optional, for the clinic's own site: resizes every <iframe data-similia-embed> to the height
// of the booking page inside it. Without it the frame keeps its own height and scrolls.
(function () {
  const frames = () => Array.from(document.querySelectorAll("iframe[data-similia-embed]"));
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!data || data.similia !== "resize" || typeof data.height !== "number") return;
    for (const frame of frames()) {
      if (frame.contentWindow === event.source && new URL(frame.src).origin === event.origin) {
        const height = Math.max(200, Math.min(data.height, 20000)) + "px";
        if (frame.style.height !== height) frame.style.height = height;
      }
    }
  });
})();
