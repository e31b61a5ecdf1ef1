// Weekly hours grid helper (progressive enhancement): a button that copies Monday's windows
// to Tuesday–Friday before saving. Without this module the grid is filled by hand.
const grid = document.querySelector("[data-hours-grid]");
if (grid) {
  const slots = grid.querySelectorAll("input[id^='d1_'][id$='_start']").length;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = "Copy Monday to Tuesday–Friday";
  button.addEventListener("click", () => {
    for (let day = 2; day <= 5; day += 1) {
      for (let slot = 0; slot < slots; slot += 1) {
        for (const end of ["start", "end"]) {
          const from = grid.querySelector(`#d1_${slot}_${end}`);
          const to = grid.querySelector(`#d${day}_${slot}_${end}`);
          if (from && to) to.value = from.value;
        }
      }
    }
    status.textContent = "Monday's hours copied to Tuesday–Friday. Save to keep them.";
  });
  const status = document.createElement("p");
  status.className = "hint";
  status.setAttribute("role", "status");
  const actions = grid.querySelector(".actions");
  actions.append(button, status);
}
