// Shows the gateway's times in the reader's own time zone and language: "in 14
// minutes (10:32)" or a local date and time. The page says the same in UTC without
// this script; the exact UTC time stays in each element's title.
"use strict";
(function () {
	const lang = document.documentElement.lang || undefined;
	const clock = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
	let words;
	try {
		words = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
	} catch (e) {
		return;
	}
	for (const el of document.querySelectorAll("time[data-local]")) {
		const at = new Date(el.dateTime);
		if (isNaN(at.getTime())) {
			continue;
		}
		if (el.dataset.local === "date") {
			el.textContent = at.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" });
			continue;
		}
		const minutes = Math.round((at.getTime() - Date.now()) / 60000);
		let text;
		if (Math.abs(minutes) < 90) {
			text = words.format(minutes, "minute");
		} else if (Math.abs(minutes) < 36 * 60) {
			text = words.format(Math.round(minutes / 60), "hour");
		} else {
			text = words.format(Math.round(minutes / 1440), "day");
		}
		el.textContent = text + " (" + at.toLocaleTimeString(lang, clock) + ")";
	}
})();
