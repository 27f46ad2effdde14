"""Build ragrec's bundled demo catalog from MovieLens ml-latest-small.

    python infra/build_demo_catalog.py ../shared/datasets/movielens-latest-small

Writes `ragrec/data/movies.jsonl` (movieId, title, year, genres, tags) and copies the dataset's README (its
license terms, which allow redistribution under the same terms) beside it. Ratings are not shipped.
"""

import csv
import json
import re
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

YEAR = re.compile(r"\((\d{4})(?:[-–]\d{4})?\)\s*$")
MAX_TAGS = 10


def main(src: Path, out_dir: Path) -> None:
    tag_counts: dict[str, Counter] = defaultdict(Counter)
    spelling: dict[tuple[str, str], str] = {}
    with open(src / "tags.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            tag = " ".join(row["tag"].split())
            key = tag.lower()
            if key:
                tag_counts[row["movieId"]][key] += 1
                spelling.setdefault((row["movieId"], key), tag)

    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(src / "movies.csv", encoding="utf-8", newline="") as f, open(out_dir / "movies.jsonl", "w", encoding="utf-8") as out:
        for row in csv.DictReader(f):
            title = row["title"].strip()
            match = YEAR.search(title)
            genres = [] if row["genres"] == "(no genres listed)" else row["genres"].split("|")
            # most-used tags first; ties keep the order users first wrote them in
            tags = [spelling[(row["movieId"], k)] for k, _ in tag_counts[row["movieId"]].most_common(MAX_TAGS)]
            item = {"movieId": int(row["movieId"]), "title": title,
                    "year": int(match.group(1)) if match else None, "genres": genres, "tags": tags}
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            n += 1
    shutil.copyfile(src / "README.txt", out_dir / "MOVIELENS-README.txt")
    print(f"wrote {n} movies to {out_dir / 'movies.jsonl'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/movielens-latest-small"), Path("ragrec/data"))
