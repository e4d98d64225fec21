// kazft review: blind rating page. Plain JavaScript, no dependencies; every text
// from the server is set with textContent, never parsed as HTML.
"use strict";

const T = {
  kk: {
    title: "Соқыр бағалау", lang: "Тіл", login: "Бағалаушы", rater: "Атыңыз", key: "API кілті",
    start: "Бастау", q: "Сұрақ", ref: "Эталондық жауап", accuracy: "Құқықтық дәлдік",
    correct: "дұрыс", partly: "ішінара", wrong: "қате", completeness: "Толықтығы (1-5)",
    citations: "Сілтемелер", ccorrect: "дұрыс", cwrong: "қате", cnone: "жоқ",
    invented: "Ойдан шығарылған заң", pref: "Қай жауап жақсы? (1-4)", tie: "3 · тең",
    both: "4 · екеуі де нашар", comment: "Түсініктеме", save: "Сақтау (Ctrl+Enter)",
    done: "Барлығы бағаланды. Рахмет!", saved: "Сақталды", progress: (i, n, r) => `${i} / ${n} сұрақ · бағаланғаны ${r}`,
    keys: "Пернелер: 1-4 — таңдау, Ctrl+Enter — сақтау, ← → — алдыңғы/келесі.",
    method: "Әр сұраққа екі жауап A және B ретінде көрсетіледі; қай жүйе жазғанын бағалаушы білмейді.",
    errKey: "API кілті қате немесе жоқ.", errNet: "Сервермен байланыс жоқ; қайталап көріңіз.",
    meta: (c, d) => [c, d].filter(Boolean).join(" · "),
  },
  ru: {
    title: "Слепая оценка", lang: "Язык", login: "Оценщик", rater: "Ваше имя", key: "API-ключ",
    start: "Начать", q: "Вопрос", ref: "Эталонный ответ", accuracy: "Юридическая точность",
    correct: "верно", partly: "частично", wrong: "неверно", completeness: "Полнота (1-5)",
    citations: "Ссылки на нормы", ccorrect: "верные", cwrong: "неверные", cnone: "нет",
    invented: "Выдуманный закон", pref: "Какой ответ лучше? (1-4)", tie: "3 · равны",
    both: "4 · оба плохие", comment: "Комментарий", save: "Сохранить (Ctrl+Enter)",
    done: "Всё оценено. Спасибо!", saved: "Сохранено", progress: (i, n, r) => `${i} / ${n} вопросов · оценено ${r}`,
    keys: "Клавиши: 1-4 — выбор, Ctrl+Enter — сохранить, ← → — предыдущий/следующий.",
    method: "Для каждого вопроса показаны два ответа, A и B; оценщик не знает, какая система написала какой.",
    errKey: "Неверный или отсутствующий API-ключ.", errNet: "Нет связи с сервером; попробуйте ещё раз.",
    meta: (c, d) => [c, d].filter(Boolean).join(" · "),
  },
  en: {
    title: "Blind review", lang: "Language", login: "Rater", rater: "Your name", key: "API key",
    start: "Start", q: "Question", ref: "Reference answer", accuracy: "Legal accuracy",
    correct: "correct", partly: "partly", wrong: "wrong", completeness: "Completeness (1-5)",
    citations: "Citations", ccorrect: "correct", cwrong: "wrong", cnone: "none",
    invented: "Invented law", pref: "Which answer is better? (1-4)", tie: "3 · tie",
    both: "4 · both bad", comment: "Comment", save: "Save (Ctrl+Enter)",
    done: "Everything is rated. Thank you!", saved: "Saved", progress: (i, n, r) => `${i} / ${n} questions · rated ${r}`,
    keys: "Keys: 1-4 choose, Ctrl+Enter save, ← → previous/next.",
    method: "Each question shows two answers, A and B; the rater is not told which system wrote which.",
    errKey: "Missing or wrong API key.", errNet: "The server cannot be reached; try again.",
    meta: (c, d) => [c, d].filter(Boolean).join(" · "),
  },
};

const $ = (id) => document.getElementById(id);
const state = { lang: localStorage.getItem("kazft-review-lang") || "kk", items: [], notice: {}, rated: {}, index: 0, rater: "" };

function t() { return T[state.lang] || T.kk; }

function setText(sel, text) { document.querySelectorAll(sel).forEach((el) => { el.textContent = text; }); }

function applyLang() {
  const s = t();
  document.documentElement.lang = state.lang;
  $("lang").value = state.lang;
  setText("#title", s.title); setText("#lang-label", s.lang); setText("#login-title", s.login);
  setText("#rater-label", s.rater); setText("#key-label", s.key); setText("#start", s.start);
  setText("#q-label", s.q); setText("#ref-label", s.ref); setText(".l-accuracy", s.accuracy);
  setText(".l-correct", s.correct); setText(".l-partly", s.partly); setText(".l-wrong", s.wrong);
  setText(".l-completeness", s.completeness); setText(".l-citations", s.citations);
  setText(".l-c-correct", s.ccorrect); setText(".l-c-wrong", s.cwrong); setText(".l-c-none", s.cnone);
  setText(".l-invented", s.invented); setText("#pref-label", s.pref); setText("#l-tie", s.tie);
  setText("#l-both", s.both); setText("#comment-label", s.comment); setText("#save", s.save);
  setText("#done-title", s.done); setText("#keys-help", s.keys); setText("#method", s.method);
  if (state.items.length) show();
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("kazft-review-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  let r;
  try {
    r = await fetch(path, { ...options, headers });
  } catch (e) {
    throw new Error(t().errNet);
  }
  if (r.status === 401) {
    $("key").hidden = false; $("key-label").hidden = false;
    $("login").hidden = false; $("rate").hidden = true;
    throw new Error(t().errKey);
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || `HTTP ${r.status}`);
  return body;
}

function show() {
  const s = t();
  const it = state.items[state.index];
  if (!it) return;
  const rated = Object.keys(state.rated).length;
  $("progress").textContent = s.progress(state.index + 1, state.items.length, rated);
  $("meta").textContent = s.meta(it.category, it.difficulty);
  $("question").textContent = it.question + (it.input ? `\n\n${it.input}` : "");
  $("ref-box").hidden = !it.reference;
  $("reference").textContent = it.reference || "";
  $("answer-a").textContent = it.a;
  $("answer-b").textContent = it.b;
  const notice = state.notice[state.lang] || "";
  $("notice-a").textContent = notice; $("notice-b").textContent = notice;
  fill(state.rated[it.id]);
}

function fill(r) {
  const f = $("rating-form");
  f.reset();
  if (!r) return;
  const check = (name, value) => { const el = f.querySelector(`input[name="${name}"][value="${value}"]`); if (el) el.checked = true; };
  check("preference", r.preference);
  for (const side of ["a", "b"]) {
    check(`${side}-accuracy`, r[side].accuracy);
    check(`${side}-citations`, r[side].citations);
    f.elements[`${side}-completeness`].value = String(r[side].completeness);
    f.elements[`${side}-invented`].checked = !!r[side].invented_law;
  }
  f.elements.comment.value = r.comment || "";
}

function collect() {
  const f = $("rating-form");
  const val = (name) => (f.querySelector(`input[name="${name}"]:checked`) || {}).value;
  const side = (s) => ({
    accuracy: val(`${s}-accuracy`), completeness: Number(f.elements[`${s}-completeness`].value),
    citations: val(`${s}-citations`), invented_law: f.elements[`${s}-invented`].checked,
  });
  return { item: state.items[state.index].id, rater: state.rater, preference: val("preference"), a: side("a"), b: side("b"), comment: f.elements.comment.value };
}

function firstUnrated() {
  const i = state.items.findIndex((it) => !state.rated[it.id]);
  return i;
}

async function save(ev) {
  ev.preventDefault();
  const f = $("rating-form");
  if (!f.reportValidity()) return;
  const rating = collect();
  try {
    await api("api/ratings", { method: "POST", body: JSON.stringify(rating) });
  } catch (e) { $("status").textContent = e.message; return; }
  state.rated[rating.item] = rating;
  $("status").textContent = t().saved;
  const next = firstUnrated();
  if (next < 0) { $("rate").hidden = true; $("done").hidden = false; return; }
  state.index = state.index + 1 < state.items.length && !state.rated[state.items[state.index + 1].id] ? state.index + 1 : next;
  show();
  $("question").scrollIntoView();
}

async function start(ev) {
  if (ev) ev.preventDefault();
  state.rater = $("rater").value.trim();
  if (!state.rater) return;
  localStorage.setItem("kazft-review-rater", state.rater);
  const key = $("key").value;
  if (key) sessionStorage.setItem("kazft-review-key", key);
  try {
    const review = await api("api/review");
    const prog = await api(`api/progress?rater=${encodeURIComponent(state.rater)}`);
    state.items = review.items; state.notice = review.notice; state.rated = prog.ratings;
  } catch (e) { $("method").textContent = e.message; return; }
  $("login").hidden = true;
  const i = firstUnrated();
  if (i < 0) { $("done").hidden = false; return; }
  state.index = i;
  $("rate").hidden = false;
  show();
}

function move(d) {
  const i = state.index + d;
  if (i >= 0 && i < state.items.length) { state.index = i; $("status").textContent = ""; show(); }
}

document.addEventListener("keydown", (ev) => {
  if ($("rate").hidden) return;
  const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName) && document.activeElement.type !== "radio" && document.activeElement.type !== "checkbox";
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { save(ev); return; }
  if (typing) return;
  const prefs = { 1: "A", 2: "B", 3: "tie", 4: "both_bad" };
  if (prefs[ev.key]) {
    const el = document.querySelector(`input[name="preference"][value="${prefs[ev.key]}"]`);
    el.checked = true; ev.preventDefault();
  } else if (ev.key === "ArrowLeft") { move(-1); } else if (ev.key === "ArrowRight") { move(1); }
});

window.addEventListener("DOMContentLoaded", () => {
  $("lang").addEventListener("change", () => { state.lang = $("lang").value; localStorage.setItem("kazft-review-lang", state.lang); applyLang(); });
  $("login-form").addEventListener("submit", start);
  $("rating-form").addEventListener("submit", save);
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("prev").setAttribute("aria-label", "previous"); $("next").setAttribute("aria-label", "next");
  applyLang();
  const known = localStorage.getItem("kazft-review-rater");
  if (known) { $("rater").value = known; start(); }
});
