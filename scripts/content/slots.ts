/**
 * Slot values shared by the corpus families. Written for this project (CC0, like the rest of the
 * generated corpus), except the word lists read from the naughty-words package (LDNOOBW,
 * CC-BY-4.0) and cuss (MIT), which families.ts splits into slurs, insults and sexual vocabulary.
 */
import { createRequire } from "node:module";
import { cuss } from "cuss";

const require = createRequire(import.meta.url);
const ldnoobw: string[] = require("naughty-words/en.json");

/** Ethnic, religious and sexual-orientation slurs as they appear in the lists. */
const SLURS = new Set([
  "beaner", "beaners", "coon", "coons", "darkie", "fag", "faggot", "jigaboo", "jiggaboo", "kike", "negro", "nigga", "nigger",
  "paki", "raghead", "spic", "towelhead", "wetback", "slanteye", "honkey", "tranny", "carpet muncher", "bulldyke", "poof", "pikey",
  "nig nog", "fudge packer", "gook", "chink", "wop", "dyke", "kyke", "zipperhead", "sandnigger", "camel jockey",
]);
/** General abuse words: insults when aimed at someone, everyday swearing otherwise. */
const ABUSE = new Set([
  "ass", "asshole", "arsehole", "bastard", "bitch", "bitches", "bullshit", "cunt", "fuck", "fucking", "fuckin", "motherfucker",
  "piece of shit", "shit", "shitty", "tosser", "twat", "wank", "whore", "slut", "fucktards", "dick", "pussy", "cock", "apeshit", "spastic", "mong",
]);
const NOT_SEXUAL = new Set([
  ...SLURS, ...ABUSE, "how to kill", "how to murder", "swastika", "white power", "neonazi", "god damn", "cialis", "viagra", "xx",
  "butt", "suck", "sucks", "tied up", "tight white", "tongue in a", "taste my", "escort", "domination", "sexual", "sexually", "sexuality",
  "sex", "nude", "nudity", "playboy", "nipple", "nipples", "erotic", "genitals", "vagina", "penis", "rectum", "vulva", "urethra play",
  "clitoris", "intercourse", "masturbation", "ejaculation", "semen", "anus", "pornography", "rape", "raping", "rapist", "date rape",
  "daterape", "incest", "pedophile", "paedophile", "lolita", "jailbait", "jail bait", "nambla", "pthc", "shota", "bestiality", "beastiality",
  "zoophilia", "eunuch", "sadism", "scat", "fecal", "🖕", "xxx", "nsfw", "poop chute", "poopchute", "goodpoop", "santorum", "tainted love",
  "wrapping men", "sultry women", "hot chick", "huge fat", "big black", "birdlock", "babeland", "bangbros", "bangbus", "2g1c", "goatcx", "goatse",
  "thumbzilla", "voyeurweb", "worldsex", "suicide girls", "tub girl", "tubgirl", "mr hands", "lemon party", "one guy one jar",
]);

export const sexualWords = ldnoobw.filter((w) => !NOT_SEXUAL.has(w) && /^[a-z ]+$/.test(w));
export const slurs = [...new Set([...ldnoobw.filter((w) => SLURS.has(w)), ...Object.keys(cuss).filter((w) => SLURS.has(w))])];
export const abuseWords = [...new Set([...ldnoobw.filter((w) => ABUSE.has(w)), ...Object.keys(cuss).filter((w) => cuss[w] === 2 && ABUSE.has(w))])];

export const persons = [
  "my wife", "my husband", "my neighbor", "my neighbour", "my boss", "my coworker", "a cop", "a police officer", "my ex", "my ex-girlfriend",
  "my ex-boyfriend", "my teacher", "a classmate", "a stranger", "someone", "a person", "my father", "my dad", "my mother", "my mom",
  "my brother", "my sister", "my roommate", "the president", "a senator", "my landlord", "a child", "a baby", "my girlfriend",
  "my boyfriend", "people", "a homeless man", "my stepdad", "my uncle", "the guy next door", "my manager", "a journalist", "my professor",
  "my son", "my daughter", "an old lady", "my business partner", "the mayor", "a judge", "my friend", "that kid at school", "a woman",
  "a man", "my cousin", "my grandmother", "the family upstairs", "a rival gang member", "my tenant", "my therapist", "the neighbors' kids",
];

export const harmVerbs = [
  "kill", "murder", "stab", "strangle", "poison", "shoot", "beat up", "hurt", "torture", "drown", "choke", "suffocate", "run over",
  "slit the throat of", "break the legs of", "maim", "assassinate", "behead", "burn", "smother", "bludgeon", "attack", "kidnap",
  "get rid of", "take out", "knock out", "dismember", "cripple", "permanently silence", "bash the head of", "set fire to", "blind",
  "seriously injure", "end the life of", "eliminate", "waste", "off", "execute", "lynch", "hang", "gut", "slaughter", "knife",
];

export const weapons = [
  "a pipe bomb", "a bomb", "a nail bomb", "a molotov cocktail", "an IED", "a car bomb", "nerve gas", "sarin", "ricin", "mustard gas",
  "a chemical weapon", "a bioweapon", "anthrax", "a dirty bomb", "an explosive vest", "a suicide vest", "a grenade", "an untraceable gun",
  "a ghost gun", "napalm", "a booby trap", "a letter bomb", "a pressure cooker bomb", "TATP", "a silencer for my pistol", "chlorine gas",
  "a flamethrower to use on people", "botulinum toxin", "an explosive device", "a homemade bomb", "a poison that can't be traced",
  "a fully automatic rifle", "a weapon of mass destruction", "a detonator", "a bomb that fits in a backpack",
];

export const places = [
  "a school", "my school", "a church", "a mosque", "a synagogue", "a concert", "a crowded mall", "the subway", "a stadium",
  "a parade", "an airport", "a hospital", "my office", "a nightclub", "a festival", "a government building", "a train station",
  "a kindergarten", "a pride march", "a temple", "a police station", "a university campus",
];

export const groups = [
  "jews", "muslims", "black people", "blacks", "immigrants", "mexicans", "gay people", "gays", "lesbians", "trans people",
  "women", "asians", "chinese people", "arabs", "indians", "gypsies", "roma", "africans", "refugees", "disabled people", "christians",
  "hindus", "latinos", "native americans", "catholics", "foreigners", "jewish people", "transgender people", "homosexuals", "sikhs",
  "pakistanis", "somalis", "haitians", "nigerians", "bisexuals", "atheists", "migrants", "the Irish", "polish people", "hispanics",
  "autistic people", "old people", "fat people", "poor people",
];

export const nonsenseGroups = [
  "purple aliens", "robots", "cats", "trees", "vampires", "unicorns", "teddy bears", "toasters", "clouds", "ghosts", "dragons",
  "garden gnomes", "rainbows", "martians", "penguins", "lamp posts", "pumpkins", "cartoon characters", "zombies", "mermaids",
  "video game NPCs", "houseplants", "pirates in my novel", "hobbits", "wizards",
];

export const dehumanising = [
  "vermin", "animals", "rats", "parasites", "cockroaches", "subhuman", "a disease", "filth", "savages", "inferior", "scum",
  "trash", "apes", "a plague", "a cancer on society", "less than human", "monkeys", "pigs", "dogs", "a virus", "genetically inferior",
  "born criminals", "disgusting", "a lower race", "mentally ill freaks", "a stain on this country", "worthless",
];

export const eliminations = [
  "exterminated", "wiped out", "deported", "gassed", "sterilized", "banned from the country", "locked up", "shot on sight",
  "removed from society", "put in camps", "hanged", "kicked out", "eradicated", "purged", "thrown out of the country", "burned",
  "killed", "wiped off the face of the earth", "driven out", "segregated from decent people",
];

export const rights = [
  "vote", "own property", "marry", "work here", "go to school", "hold office", "adopt children", "live in our neighborhood",
  "serve in the military", "have children", "open businesses", "become citizens", "drive", "speak in public", "teach our kids",
];

export const insults = [
  "idiot", "moron", "retard", "loser", "freak", "worthless piece of garbage", "pathetic waste of space", "fat pig", "ugly cow",
  "dumbass", "brainless clown", "failure", "nobody", "disgusting creep", "braindead imbecile", "dirty rat", "slob", "stupid cow",
  "scumbag", "lowlife", "degenerate", "parasite", "sack of garbage", "useless idiot", "crybaby", "attention whore",
];

export const drugs = [
  "meth", "crystal meth", "cocaine", "crack", "heroin", "fentanyl", "LSD", "MDMA", "ecstasy", "ketamine", "GHB", "PCP", "crack cocaine",
  "methamphetamine", "oxycodone without a prescription", "xanax without a prescription", "DMT", "date rape drugs", "roofies", "opium",
];

export const crimes = [
  "launder money", "make counterfeit money", "commit tax fraud", "steal a credit card number", "shoplift without getting caught",
  "forge a passport", "hotwire a car", "break into a house", "break into my neighbor's house", "evade taxes", "steal from my employer",
  "buy a gun without a background check", "scam elderly people", "steal someone's identity", "smuggle people across the border",
  "bribe a judge", "rob a bank", "steal a car", "pick a lock to get into someone else's apartment", "sell stolen goods online",
  "run a ponzi scheme", "commit insurance fraud", "fake my own death to collect insurance", "skim credit cards at a gas station",
  "cheat the lottery", "embezzle from my company", "forge a doctor's prescription", "make a fake ID", "blackmail someone",
  "extort a business owner", "poach elephants for ivory", "traffic women", "sell organs on the black market", "commit arson for insurance",
  "steal packages from porches", "clone a credit card", "rig an election", "dodge customs with undeclared cash", "sell weapons illegally",
  "commit wire fraud", "steal catalytic converters", "dump toxic waste illegally",
];

export const cyberCrimes = [
  "hack into my girlfriend's instagram", "hack into someone's email", "break into my neighbor's wifi", "write ransomware",
  "write a keylogger to steal passwords", "ddos a website", "create a phishing email to steal bank logins", "steal someone's facebook password",
  "take over someone's bank account", "write a virus that spreads through USB drives", "deploy a botnet", "crack my ex's phone passcode",
  "bypass the login of a site I don't own", "dump the user database of a website I don't own", "install spyware on my wife's phone",
  "steal session cookies from other users", "write malware that evades antivirus", "hack a hospital network", "hijack someone's whatsapp",
  "launch a SIM swap attack on someone", "write a credential stealer", "exploit a bank's website to transfer money", "hack a traffic light system",
  "break into a government database", "encrypt a company's files and demand bitcoin",
];

export const historicalFigures = [
  "Julius Caesar", "Abraham Lincoln", "John F. Kennedy", "Napoleon", "Cleopatra", "Marilyn Monroe", "Kurt Cobain", "Elvis Presley",
  "Martin Luther King Jr.", "Gandhi", "Joan of Arc", "Socrates", "Archduke Franz Ferdinand", "Tutankhamun", "Alexander the Great",
  "Princess Diana", "Jimi Hendrix", "Amy Winehouse", "Robin Williams", "Hitler", "Stalin", "Mussolini", "Rasputin", "Malcolm X",
  "Anne Frank", "Marie Curie", "Edgar Allan Poe", "Vincent van Gogh", "Virginia Woolf", "Ernest Hemingway", "Genghis Khan",
];

export const historicalEvents = [
  "the Holocaust", "the Rwandan genocide", "the bombing of Hiroshima", "the Battle of the Somme", "the Armenian genocide", "9/11",
  "the Oklahoma City bombing", "the Columbine shooting", "the fall of Rome", "the French Revolution", "the Spanish Inquisition",
  "the Trail of Tears", "the Nanjing massacre", "the Cambodian genocide", "the Salem witch trials", "the Boston marathon bombing",
  "the Battle of Stalingrad", "the Mongol invasions", "the transatlantic slave trade", "the Tulsa race massacre", "Pearl Harbor",
  "the Jonestown massacre", "the Srebrenica massacre", "the Crusades", "the Vietnam War", "the Troubles in Northern Ireland",
];

export const games = [
  "Elden Ring", "Dark Souls", "Call of Duty", "Minecraft", "Skyrim", "Fortnite", "Zelda", "Hollow Knight", "GTA V", "Counter-Strike",
  "Halo", "Diablo", "World of Warcraft", "Among Us", "Baldur's Gate 3", "Sekiro", "Hitman", "Assassin's Creed", "Red Dead Redemption",
  "Doom", "League of Legends", "Valorant", "Pokemon", "Monster Hunter", "Resident Evil", "The Witcher 3",
];

export const fictional = [
  "Harry Potter", "Sherlock Holmes", "Batman", "Frodo", "Darth Vader", "Hannibal Lecter", "Walter White", "Jon Snow", "Voldemort",
  "Macbeth", "Hamlet", "Spider-Man", "the Joker", "Dracula", "Gandalf", "James Bond", "Katniss Everdeen", "Lord Voldemort", "Tony Soprano",
  "Sauron", "Captain Ahab", "Dexter Morgan", "Patrick Bateman", "Professor Moriarty", "Sweeney Todd",
];

export const techObjects = [
  "a process", "a python process", "a zombie process", "all node processes", "a stuck docker container", "the background job",
  "a hung SSH session", "a child process in Node.js", "a thread in Java", "the tmux session", "a runaway query in Postgres",
  "the process listening on port 8080", "a kubernetes pod", "an unresponsive app on my Mac", "a Windows service", "a celery worker",
  "the screen session", "a frozen program", "all chrome tabs", "a systemd unit", "the java process eating all my memory", "a git merge",
];

export const pests = [
  "weeds", "ants", "mosquitoes", "mold", "bacteria", "fruit flies", "cockroaches", "a wasp nest", "germs on a cutting board", "lice",
  "bed bugs", "aphids on my roses", "termites", "moss on the roof", "fleas on my dog", "slugs in the garden", "dandelions", "mildew",
  "viruses on surfaces", "spider mites", "crabgrass", "fungus gnats", "rats in the attic", "mice in the kitchen", "poison ivy",
];

export const everydayTopics = [
  "bake sourdough bread", "fix a leaking tap", "learn Spanish quickly", "write a cover letter", "train for a marathon", "save for retirement",
  "set up a React project", "clean a cast iron pan", "plan a trip to Japan", "negotiate a raise", "grow tomatoes on a balcony",
  "improve my sleep", "start a podcast", "file my taxes", "learn to play guitar", "change a flat tyre", "make cold brew coffee",
  "write unit tests in Python", "install Ubuntu", "get rid of dandruff", "train my puppy to sit", "organise my closet",
  "prepare for a job interview", "meditate", "budget for a wedding", "paint a room", "make pasta from scratch", "learn calculus",
  "deploy a Node app", "reduce my screen time", "teach my kid to ride a bike", "knit a scarf", "write a haiku", "build a bookshelf",
  "use git rebase", "center a div in CSS", "make a budget spreadsheet", "speed up my laptop", "remove a wine stain", "lose weight safely",
  "write a wedding toast", "apply for a passport", "care for a succulent", "take better notes", "cook rice in a pot", "read faster",
  "configure nginx as a reverse proxy", "back up my photos", "make friends in a new city", "stop procrastinating", "brew beer at home",
];
