"""Hand labels of ml-latest-small's tags (tags.csv) for the person-name detection (`prompts.is_person`): every tag
shaped like a name (2-4 capitalized words) labeled as a real person, a fictional or legendary one, or no person,
and the real people's names that do not have that shape (lower case, one word)."""

# actors, directors, writers, musicians, historical figures, and named pairs or groups of them
REAL_PEOPLE = frozenset({
    "Adam Sandler", "Adrien Brody", "Agatha Christie", "Al Pacino", "Alfred Hitchcock", "Alicia Vikander",
    "Amy Adams", "Andrew Lloyd Weber", "Andy Garcia", "Andy Kaufman", "Andy Samberg", "Angelina Jolie",
    "Anne Boleyn", "Anne Hathaway", "Anthony Hopkins", "Arnold Schwarzenegger", "Arthur C. Clarke", "Arthur Miller",
    "Astaire and Rogers", "Audrey Tautou", "Ben Affleck", "Ben Kingsley", "Ben Stiller", "Bette Davis",
    "Bill Murray", "Brad Pitt", "Brittany Murphy", "Bruce Willis", "C.S. Lewis", "Casey Affleck", "Charles Dickens",
    "Charlize Theron", "Charlotte Bronte", "Chris Evans", "Chris Klein", "Christian Bale", "Christina Ricci",
    "Christoph Waltz", "Christopher Lloyd", "Christopher Nolan", "Chuck Palahniuk", "Coen Bros", "Coen Brothers",
    "Cole Porter", "Colin Farrell", "Dan Aykroyd", "David Bowie", "David Fincher", "David Thewlis",
    "Day and Hudson", "Denzel Washington", "Dodie Smith", "Dwayne Johnson", "E. M. Forster", "E.M. Forster",
    "Ed Harris", "Edith Wharton", "Edward Norton", "Emilia Clarke", "Emma Stone", "Eric Bana", "Eva Green",
    "Ewan McGregor", "Francis Ford Coppola", "Gal Gadot", "Gary Oldman", "George Bernard Shaw", "George Clooney",
    "George Lucas", "Graham Greene", "Halle Berry", "Harper Lee", "Harrison Ford", "Harvey Keitel",
    "Hayao Miyazaki", "Henry Darger", "Henry James", "Hepburn and Tracy", "Hilary Swank", "Howard Hughes",
    "Huey Long", "Hugh Jackman", "Jack Nicholson", "Jaime Pressly", "Jake Gyllenhaal", "James Cameron",
    "James Fennimore Cooper", "James Franco", "James Stewart", "Jane Austen", "Jared Leto", "Jason Biggs",
    "Jason Segel", "Jean Reno", "Jeff Bridges", "Jennifer Connelly", "Jennifer Lawrence", "Jesse Eisenberg",
    "Jesse Ventura", "Jessica Alba", "Jim Carrey", "Jim Morrison", "John Cusack", "John Goodman", "John Grisham",
    "John Malkovich", "John Travolta", "Johnny Cash", "Johnny Depp", "Josh Brolin", "Jude Law", "Julianne Moore",
    "Juliette Lewis", "Justin Timberlake", "Keanu Reeves", "Kevin Costner", "Kevin Smith", "Kevin Spacey",
    "Kurt Russell", "Leonardo DiCaprio", "Liam Neeson", "Loretta Lynn", "Lou Gehrig", "Louisa May Alcott",
    "Luc Besson", "M. Night Shyamalan", "Macaulay Culkin", "Maggie Gyllenhaal", "Margot Robbie", "Marion Cotillard",
    "Mark Ruffalo", "Mark Wahlberg", "Martin Scorsese", "Matt Damon", "Mel Gibson", "Michael Bay", "Michael Cera",
    "Michael Crichton", "Mila Kunis", "Monty Python", "Morgan Freeman", "Natalie Portman", "Nathan Fillion",
    "Neil Patrick Harris", "Nick Hornby", "Nicolas Cage", "Orlando Bloom", "Oscar Wilde", "Paul Giamatti",
    "Paul Rudd", "Peta Wilson", "Philip K. Dick", "Philip Seymour Hoffman", "Queen Victoria", "Quentin Tarantino",
    "Rachel McAdams", "Rachel Weisz", "Ralph Fiennes", "Ray Bradbury", "Renee Zellweger", "Rob Zombie",
    "Robert De Niro", "Robert Downey Jr.", "Robert Ludlum", "Robert Penn Warren", "Robin Williams", "Roger Avary",
    "Rogers and Hammerstein", "Russell Crowe", "Ryan Reynolds", "S.E. Hinton", "Samuel L. Jackson", "Scott Turow",
    "Sean Connery", "Seann William Scott", "Seth MacFarlane", "Seth Rogen", "Shia LaBeouf", "Simon Pegg",
    "Simon and Garfunkel", "Slim Pickens", "Stanley Kubrick", "Stephen Crane", "Stephen King", "Steve Buscemi",
    "Steve Carell", "Steven Spielberg", "Tennessee Williams", "Tilda Swinton", "Tim Burton", "Tom Clancy",
    "Tom Hanks", "Tom Hardy", "Trey Parker", "Truman Capote", "Uma Thurman", "Van Gogh", "Viggo Mortensen",
    "Wesley Snipes", "Will Ferrell", "Will Smith", "Woody Harrelson", "Zooey Deschanel",
})

# people in the story rather than of its making: still people associated with it
CHARACTERS = frozenset({
    "Bugs Bunny", "Captain America", "Captain Kirk", "Deep Throat", "Doc Ock", "Hannibal Lecter", "Hannibal Lector",
    "Harley Quinn", "Ichabod Crane", "Inigo Montoya", "Jean Grey", "Jekyll and Hyde", "King Arthur",
    "Lloyd Dobbler", "Lonesome Polecat", "Nick and Nora Charles", "Norman Bates", "Pee Wee Herman", "Peter Pan",
})

# places, events, franchises, organizations, verdicts
NOT_PEOPLE = frozenset({
    "Amazing Cinematography", "American Indians", "Big Brothers", "Civil War", "Cold War", "Creature Feature",
    "Empire State Building", "General Motors", "Girl Power", "Great Visuals", "Gulf War", "Heroic Bloodshed",
    "High School", "Holy Grail", "In Your Eyes", "Las Vegas", "Mental Hospital", "Middle East", "Mount Rushmore",
    "Native Americans", "New York", "New York City", "Not Seen", "Notable Nudity", "Peace Corp",
    "Psychological Thriller", "Rolling Stone", "Saturday Night Live", "Sexual Humor", "South Africa",
    "South America", "Stand Up", "Star Trek", "Star Wars", "Stock Market", "Stoner Movie", "Studio Ghibli",
    "The Entertainer", "They Might Be Giants", "Twist Ending", "Visually Striking", "Wall Street", "Well Done",
})

# real people the shape cannot see
UNSHAPED_PEOPLE = frozenset({
    "Beethoven", "Capone", "Capote", "Dickens", "Dumas", "Einstein", "Hammett", "Hearst", "Hemingway",
    "Katzanzakis", "Mozart", "Nabokov", "Salieri", "Shakespeare", "Tarantino", "Tolkein", "Tolkien", "Tolstoy",
    "alan rickman", "ben affleck", "ben stiller", "bruce willis", "cate blanchett", "coen brothers", "daniel craig",
    "daniel radcliffe", "edward norton", "emma thompson", "helena bonham carter", "hugh jackman", "jack nicholson",
    "jackie chan", "jake gyllenhaal", "jim carrey", "jon hamm", "joss whedon", "leonardo DiCarpio", "mel gibson",
    "meryl streep", "roald dahl", "ryan reynolds", "shakespeare", "sofia coppola", "stephen king", "steve carell",
    "stiller", "tolkien", "tom hardy", "will ferrell", "winona ryder", "zoe kazan",
})
