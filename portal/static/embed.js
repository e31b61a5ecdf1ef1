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
  // A frame that measured itself before this script listened has nothing new to say: ask
  // each frame for its height now, and again whenever it loads a page.
  const ask = (frame) => {
    try {
      frame.contentWindow.postMessage({ similia: "measure" }, new URL(frame.src).origin);
    } catch (error) {
      // a frame without a window yet: its load event asks again
    }
  };
  for (const frame of frames()) {
    ask(frame);
    frame.addEventListener("load", () => ask(frame));
  }
})();
