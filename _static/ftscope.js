// ftscope scorecard: "show only the misses" (also reached by any link to #misses).
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("sc-misses-only");
  if (!box) return;
  const root = document.querySelector(".ftscope-scorecard");
  const apply = () => {
    root.classList.toggle("ftscope-misses-only", box.checked);
    root.querySelectorAll("section.sc-section").forEach((s) => {
      s.classList.toggle("sc-none", !s.querySelector('tr[data-miss="1"]'));
    });
  };
  box.addEventListener("change", apply);
  const showMisses = () => { box.checked = true; apply(); };
  document.querySelectorAll('a[href="#misses"]').forEach((a) => a.addEventListener("click", showMisses));
  if (window.location.hash === "#misses") showMisses();
  apply();
});
