"""NLP tool use: sentiment, topics, entities and summaries through the real tools, checked against the truth.

The texts are built with a known label (a positive template, a sports headline, the city a bio names), so a
trajectory is kept only when the real tool got it right and the answer reports what the tool said.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from agent.tune.families import content as c
from agent.tune.families.base import (
    Draw,
    Plan,
    all_of,
    answer_has,
    answer_lacks,
    call,
    finish,
    python_check,
)


def review(d: Draw, positive: bool) -> str:
    return d.pick(c.POSITIVE if positive else c.NEGATIVE).format(p=d.pick(c.PRODUCTS))


def _results(seen: tuple[str, ...]) -> list[dict]:
    return json.loads(seen[-1])["results"]


def _label_rows_check(path: str, labels: list[str], names: list[str]) -> str:
    """Each row of the output file holds the right label, in input order (whatever the other columns are)."""
    return python_check(
        f"import csv\nnames = {sorted(set(names))!r}\nrows = list(csv.reader(open('{path}')))\n"
        "got = [next(c.strip().lower() for c in r if c.strip().lower() in names) for r in rows\n"
        "       if any(c.strip().lower() in names for c in r)]\n"
        f"assert got == {labels!r}, got")


# -- sentiment -------------------------------------------------------------------------------------------


def sentiment_one(d: Draw) -> Plan:
    path = d.name(("verdict.txt", "comment.txt", "feedback.md", "opinion.txt", "message.txt", "rating.txt",
                   "note.txt", "survey.txt"))
    positive = d.chance(0.5)
    label, other = ("positive", "negative") if positive else ("negative", "positive")
    goal = d.wording([
        "Does {f} hold a positive review or a negative one?", "Tell me whether {f} is a positive or a negative review.",
        "What is the sentiment of the text in {f}: positive or negative?",
        "Does the customer in {f} sound happy or unhappy? Answer positive or negative.",
        "Classify the feedback in {f}: positive, or negative?", "Positive or negative: the comment in {f}?",
        "Read {f} and say if the review is positive or negative.", "Is {f} a good or a bad review (positive/negative)?",
    ], f=path)
    steps = (call("classify_sentiment", input_path=path), finish(lambda seen: _results(seen)[0]["label"]))
    check = all_of(answer_has(label), answer_lacks(other))
    return Plan(goal, {path: review(d, positive) + "\n"}, check, steps, max_steps=5)


def sentiment_count(d: Draw) -> Plan:
    path = d.name(("reviews.txt", "comments.txt", "feedback.txt", "ratings.txt", "opinions.txt", "survey.txt",
                   "responses.txt", "notes.txt"))
    labels = [d.chance(0.5) for _ in range(d.randint(3, 8))]
    want_positive = d.chance(0.6)
    word = "positive" if want_positive else "negative"
    expected = sum(labels) if want_positive else len(labels) - sum(labels)
    goal = d.wording([
        "Each line of {f} is one review; count the {w} ones.", "Count the {w} reviews in {f} (one per line).",
        "How many lines of {f} are {w} reviews?",
        "Each line of {f} is a comment. What number of those comments are {w}?",
        "Tell me how many {w} opinions {f} contains, one per line.", "Of the reviews in {f}, how many are {w}?",
        "How many {w} comments are in {f}? There is one per line.", "Find the number of {w} reviews in {f}.",
    ], f=path, w=word)
    steps = (call("classify_sentiment", input_path=path),
             finish(lambda seen: str(json.loads(seen[-1])["label_counts"].get(word, 0))))
    text = "\n".join(review(d, p) for p in labels) + "\n"
    return Plan(goal, {path: text}, answer_has(str(expected)), steps, max_steps=5)


def sentiment_file(d: Draw) -> Plan:
    src = d.name(("reviews.txt", "comments.txt", "feedback.txt", "opinions.txt"))
    dst = d.name(("moods.csv", "sentiment.csv", "scored.csv", "tags.csv"))
    labels = ["positive" if d.chance(0.5) else "negative" for _ in range(d.randint(3, 7))]
    goal = d.wording([
        "Run a sentiment check on each line of {s}; the labels go into {t}.",
        "Save a sentiment label for every line of {s} in {t}.", "Classify the lines of {s} by sentiment into {t}.",
        "Write {t} with the sentiment (positive/negative) of each review in {s}.",
        "Give every comment in {s} a positive or negative label and store them in {t}.",
        "Tag each line of {s} as positive or negative; save the result as {t}.",
        "Run sentiment on {s} and put the labels in {t}.", "Create {t}: one sentiment label per review of {s}.",
    ], s=src, t=dst)
    steps = (call("classify_sentiment", input_path=src, output_path=dst),
             finish(lambda seen: f"Saved {json.loads(seen[-1])['count']} labels to {dst}."))
    text = "\n".join(review(d, label == "positive") for label in labels) + "\n"
    return Plan(goal, {src: text}, _label_rows_check(dst, labels, ["positive", "negative"]), steps, max_steps=5)


# -- topics ----------------------------------------------------------------------------------------------


def _headline(d: Draw, topic: str) -> str:
    return d.pick(c.HEADLINES[topic]).format(city=d.pick(c.CITIES), company=d.pick(c.COMPANIES))


def _labels(d: Draw) -> list[str]:
    return d.rng.sample(sorted(c.HEADLINES), d.randint(3, 4))


def topic_one(d: Draw) -> Plan:
    path = d.name(("heading.txt", "title.txt", "news.txt", "story.txt", "item.txt", "post.txt", "line.txt",
                   "article.txt"))
    labels = _labels(d)
    topic = d.choice(labels)
    listed = ", ".join(labels[:-1]) + " or " + labels[-1]
    goal = d.wording([
        "Which of these topics is {f} about: {l}?", "Which topic fits {f} best: {l}?",
        "Classify the headline in {f} as one of {l}.", "What is {f} about? Pick one of {l}.",
        "Give the topic of the text in {f}, choosing from {l}.", "Tell me if {f} is about {l}.",
        "Choose the best label for {f} among {l}.", "Which of {l} describes the headline in {f}?",
    ], f=path, l=listed)
    steps = (call("classify_topic", labels=labels, input_path=path), finish(lambda seen: _results(seen)[0]["label"]))
    check = all_of(answer_has(topic), *(answer_lacks(x) for x in labels if x != topic))
    return Plan(goal, {path: _headline(d, topic) + "\n"}, check, steps, max_steps=5)


def topic_file(d: Draw) -> Plan:
    src = d.name(("headlines.txt", "titles.txt", "feed.txt", "stories.txt"))
    dst = d.name(("topics.csv", "categories.csv", "labels.csv", "sorted.csv"))
    labels = _labels(d)
    truth = [d.choice(labels) for _ in range(d.randint(3, 6))]
    listed = ", ".join(labels[:-1]) + " and " + labels[-1]
    goal = d.wording([
        "Assign one of {l} to every headline of {s}; save the labels in {t}.",
        "Label every line of {s} with one of {l}; save it as {t}.",
        "Sort the headlines in {s} into {l}, writing the labels to {t}.",
        "Classify each title in {s} as {l}, and store the results in {t}.",
        "Write {t} with a topic ({l}) for each line of {s}.",
        "Tag the lines of {s} with the topics {l} and save {t}.",
        "For each headline of {s}, pick a topic from {l}; put the labels in {t}.",
        "Create {t}: the topic of each line in {s}, one of {l}.",
    ], s=src, t=dst, l=listed)
    steps = (call("classify_topic", labels=labels, input_path=src, output_path=dst),
             finish(lambda seen: f"Wrote a topic for each of the {json.loads(seen[-1])['count']} headlines to {dst}."))
    text = "\n".join(_headline(d, t) for t in truth) + "\n"
    return Plan(goal, {src: text}, _label_rows_check(dst, truth, labels), steps, max_steps=5)


# -- entities --------------------------------------------------------------------------------------------


def _entities(seen: tuple[str, ...]) -> list[str]:
    data = json.loads(seen[-1])
    rows = data["results"] if "results" in data else [data]
    return list(dict.fromkeys(e["text"] for row in rows for e in row["entities"]))


def entity_city(d: Draw) -> Plan:
    path = d.name(("bio.txt", "about.txt", "profile.md", "story.txt", "person.txt", "author.txt", "life.txt",
                   "intro.txt"))
    first, city = d.pick(c.FIRST_NAMES), d.pick(c.CITIES)
    text = d.pick(c.BIOS).format(person=f"{first} {d.pick(c.LAST_NAMES)}", first=first, city=city,
                                 year=d.randint(1940, 2005), company=d.pick(c.COMPANIES))
    goal = d.wording([
        "What is the birthplace of the person {f} describes?", "Where was the person described in {f} born?",
        "Which city does {f} name as the birthplace?", "Tell me the home city of the person in {f}.",
        "What place is mentioned in {f}?", "Find the city in {f}.",
        "Read {f}: which city is it about?", "Name the city that appears in {f}.",
    ], f=path)
    steps = (call("extract_entities", input_path=path, types=["location"]), finish(lambda seen: _entities(seen)[0]))
    return Plan(goal, {path: text + "\n"}, answer_has(city), steps, max_steps=5)


def entity_people(d: Draw) -> Plan:
    path = d.name(("huddle.txt", "minutes.md", "call.txt", "standup.txt", "review.txt", "notes.md", "sync.txt",
                   "agenda.txt"))
    names = [f"{f} {last}" for f, last in zip(d.sample(c.FIRST_NAMES, 3), d.sample(c.LAST_NAMES, 3), strict=True)]
    text = d.pick(c.MEETINGS).format(a=names[0], b=names[1], c=names[2])
    goal = d.wording([
        "Name everyone who appears in {f}.", "Who is named in {f}?", "Which people appear in {f}?",
        "Give me the names of everyone mentioned in {f}.", "Find all the person names in {f}.",
        "Who took part, according to {f}?", "Name the people in {f}.", "Extract the people from {f}.",
    ], f=path)
    steps = (call("extract_entities", input_path=path, types=["person"]),
             finish(lambda seen: ", ".join(_entities(seen))))
    check = all_of(*(answer_has(part) for name in names for part in name.split()))
    return Plan(goal, {path: text + "\n"}, check, steps, max_steps=5)


def entity_company(d: Draw) -> Plan:
    path = d.name(("wire.txt", "news.md", "release.txt", "statement.txt", "update.txt", "bulletin.txt",
                   "story.md", "report.txt"))
    company = d.pick(c.COMPANIES)
    text = d.pick(c.PRESS).format(company=company, city=d.pick(c.CITIES))
    goal = d.wording([
        "Which firm does {f} report on?", "What organization is {f} about?", "Name the company in {f}.",
        "Tell me which firm {f} talks about.", "Find the organization named in {f}.",
        "Which business appears in {f}?", "What is the name of the company in {f}?",
        "Read {f}: which company is it?",
    ], f=path)
    steps = (call("extract_entities", input_path=path, types=["organization"]),
             finish(lambda seen: _entities(seen)[0]))
    return Plan(goal, {path: text + "\n"}, all_of(*(answer_has(w) for w in company.split())), steps, max_steps=5)


# -- summaries -------------------------------------------------------------------------------------------


def _article(d: Draw) -> tuple[str, str]:
    subject = d.pick(sorted(c.ARTICLES))  # held-out articles are about subjects training never sees
    sentences = d.rng.sample(c.ARTICLES[subject], d.randint(4, 6))
    return subject, " ".join(sentences) + "\n"


def summary_file(d: Draw) -> Plan:
    src = d.name(("article.txt", "post.md", "essay.txt", "story.txt", "report.txt", "piece.txt", "column.txt",
                  "feature.txt"))
    dst = d.name(("summary.txt", "short.txt", "gist.txt", "tldr.txt"))
    subject, text = _article(d)
    n = d.choice([1, 2, 2, 3])
    goal = d.wording([
        "Summarize {s} in {n} sentence(s) and save the summary to {t}.",
        "Write a {n}-sentence summary of {s} into {t}.", "Save a short summary of {s} ({n} sentences) as {t}.",
        "Put a summary of {s}, {n} sentence(s) long, in {t}.", "Create {t} with a {n}-sentence summary of {s}.",
        "Condense {s} to {n} sentence(s) and write it to {t}.", "Make {t}: the gist of {s} in {n} sentence(s).",
        "Store a {n}-sentence summary of {s} in {t}.",
    ], s=src, t=dst, n=n)
    steps = (call("summarize_text", input_path=src, sentences=n, output_path=dst),
             finish(f"Saved a {n}-sentence summary of {src} to {dst}."))
    check = python_check(f"s = open('{dst}').read().strip()\narticle = open('{src}').read()\n"
                         "assert 20 < len(s) < len(article), s")
    return Plan(goal, {src: text}, check, steps, max_steps=5, tags=(subject,))


def main_subject(d: Draw) -> Plan:
    src = d.name(("article.txt", "post.md", "essay.txt", "story.txt", "text.txt", "piece.txt", "column.txt",
                  "page.txt"))
    subject, text = _article(d)
    goal = d.wording([
        "Briefly: what subject does {f} cover?", "What is the main subject of {f}?", "Tell me briefly what {f} covers.",
        "What topic does {f} deal with? A few words are enough.", "Give me the subject of {f} in a word or two.",
        "Sum up in a few words what {f} is about.", "What is {f} mostly about?", "Name the main topic of {f}.",
    ], f=src)

    def answer(seen: tuple[str, ...]) -> str:
        if subject not in seen[-1].lower():
            raise ValueError(f"the summary does not name the subject {subject!r}")
        return f"It is about {subject}."

    steps = (call("summarize_text", input_path=src, sentences=1), finish(answer))
    return Plan(goal, {src: text}, answer_has(subject), steps, max_steps=5)


KINDS: dict[str, Callable[[Draw], Plan]] = {
    "sentiment_one": sentiment_one, "sentiment_count": sentiment_count, "sentiment_file": sentiment_file,
    "topic_one": topic_one, "topic_file": topic_file, "entity_city": entity_city, "entity_people": entity_people,
    "entity_company": entity_company, "summary_file": summary_file, "main_subject": main_subject,
}
