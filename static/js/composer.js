// The composer's route sentence follows the From menu (the page says it without script too,
// for the From it was opened with).
(function () {
  var select = document.getElementById("id_from_choice");
  var target = document.querySelector("#route-sentence .route-text");
  if (!select || !target) return;
  select.addEventListener("change", function () {
    var item = document.querySelector('#route-sentences li[data-from="' + select.value + '"]');
    if (item) target.textContent = item.textContent;
  });
})();
