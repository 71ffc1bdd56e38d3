/**
 * A generated, labelled evaluation set for the language-level PII recognisers (person,
 * street_address, postal_code, date_of_birth): sentences built from templates with names of many
 * origins and addresses of the US, UK, Germany and France, plus decoys that carry no such value
 * (brands, capitalised common nouns, street-like product names, month names, Apple, Jordan, Paris).
 *
 * The name and street pools are written here by hand, not drawn from the gazetteers the
 * recognisers use, so the set measures how they generalise (some names are in no list and must be
 * carried by context). Deterministic: a seeded generator, so the same set every run.
 */

export interface Labelled {
  text: string;
  /** Expected values: type and the exact span. */
  spans: { type: string; start: number; end: number }[];
  /** Which family of template produced it (for the per-group report). */
  group: string;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Given name, surname, by origin. */
const names: Record<string, [string[], string[]]> = {
  english: [
    ["James", "Emily", "Oliver", "Charlotte", "Harry", "Sophie", "George", "Lucy", "Thomas", "Hannah", "Daniel", "Rebecca", "Matthew", "Laura", "Andrew", "Megan"],
    ["Thompson", "Walker", "Harrison", "Clarke", "Robinson", "Wright", "Hughes", "Edwards", "Turner", "Collins", "Bennett", "Fletcher", "Holloway", "Pemberton", "Ashworth", "Whitfield"],
  ],
  german: [
    ["Lukas", "Anna", "Felix", "Lena", "Jonas", "Marie", "Maximilian", "Katharina", "Tobias", "Johanna", "Florian", "Franziska"],
    ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter", "Zimmermann", "Krüger"],
  ],
  french: [
    ["Camille", "Louis", "Chloé", "Hugo", "Manon", "Théo", "Léa", "Mathieu", "Élodie", "Guillaume", "Amélie", "Baptiste"],
    ["Dubois", "Lefebvre", "Moreau", "Laurent", "Girard", "Rousseau", "Fontaine", "Chevalier", "Lambert", "Bonnet", "Mercier", "Faure"],
  ],
  hispanic: [
    ["Alejandro", "Lucía", "Javier", "Valentina", "Mateo", "Camila", "Santiago", "Isabella", "Diego", "Gabriela", "Carlos", "Mariana"],
    ["García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez", "Torres", "Flores", "Vargas"],
  ],
  italian: [
    ["Giulia", "Alessandro", "Francesca", "Lorenzo", "Chiara", "Matteo", "Martina", "Riccardo", "Federica", "Davide"],
    ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Conti"],
  ],
  indian: [
    ["Priya", "Rahul", "Ananya", "Arjun", "Deepika", "Vikram", "Sneha", "Rohan", "Kavya", "Aditya", "Meera", "Sanjay"],
    ["Sharma", "Patel", "Iyer", "Reddy", "Nair", "Gupta", "Menon", "Krishnan", "Chatterjee", "Desai", "Raghunathan", "Venkataraman"],
  ],
  chinese: [
    ["Wei", "Xiaoming", "Li Na", "Jing", "Hao", "Mei", "Jun", "Yan", "Zhiwei", "Xiu"],
    ["Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Zhou", "Wu", "Xu"],
  ],
  vietnamese_korean_japanese: [
    ["Minh", "Thanh", "Linh", "Min-jun", "Seo-yeon", "Ji-ho", "Haruto", "Yui", "Sakura", "Kenji", "Hiroshi", "Yuki"],
    ["Nguyen", "Tran", "Pham", "Kim", "Park", "Choi", "Tanaka", "Suzuki", "Takahashi", "Watanabe", "Yamamoto", "Nakamura"],
  ],
  arabic: [
    ["Mohammed", "Fatima", "Ahmed", "Aisha", "Omar", "Layla", "Youssef", "Mariam", "Khalid", "Nour", "Hassan", "Zainab"],
    ["Al-Farsi", "Haddad", "Mansour", "Khalil", "Nasser", "Hamdan", "Saleh", "Aziz", "El-Amin", "Rahman", "Qureshi", "Abdullah"],
  ],
  african: [
    ["Chinedu", "Ngozi", "Oluwaseun", "Adaeze", "Kwame", "Ama", "Tendai", "Thandiwe", "Emeka", "Folake", "Kofi", "Amara"],
    ["Okafor", "Adeyemi", "Okonkwo", "Mensah", "Banda", "Nwosu", "Eze", "Osei", "Mwangi", "Abubakar", "Boateng", "Adebayo"],
  ],
  slavic_turkish: [
    ["Ivan", "Olga", "Dmitri", "Natalia", "Piotr", "Agnieszka", "Tomasz", "Katarzyna", "Mehmet", "Elif", "Emre", "Zeynep"],
    ["Ivanov", "Petrova", "Smirnov", "Kowalski", "Nowak", "Wiśniewska", "Lewandowski", "Yılmaz", "Demir", "Kaya", "Şahin", "Novák"],
  ],
  irish_dutch: [
    ["Siobhan", "Sean", "Niamh", "Declan", "Aoife", "Pieter", "Sanne", "Joost", "Femke"],
    ["O'Brien", "O'Connor", "McCarthy", "Gallagher", "van der Berg", "de Vries", "van Dijk", "Jansen", "Bakker", "MacLeod"],
  ],
};

/** Names that are also words or places: only the template's context makes them names. */
const wordNames = ["Will", "Rose", "Hope", "Grace", "Mark", "Jordan", "Paris", "May", "June", "Faith", "Jack", "Frank", "Dawn", "Amber"];

const titles = ["Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Dr", "Mr", "Herr", "Frau", "Mme", "Miss"];

const personTemplates: ((n: string, first: string, last: string) => string)[] = [
  (n) => `My name is ${n} and I need to update my account.`,
  (n) => `Please forward this to ${n} before Friday.`,
  (n) => `${n} called yesterday about the insurance claim.`,
  (n) => `Dear ${n},\nThank you for your letter of complaint.`,
  (n) => `Patient ${n}, 54, presented with chest pain and shortness of breath.`,
  (n) => `The quarterly report was prepared by ${n}.`,
  (n) => `Can you draft an email to ${n} asking for the signed contract?`,
  (n) => `Best regards,\n${n}`,
  (n) => `Our new hire ${n} starts on Monday in the London office.`,
  (n) => `I spoke with ${n} from accounting and she agreed to the refund.`,
  (n) => `Summarise the meeting notes: ${n} presented the roadmap and took questions.`,
  (n) => `Hi ${n}, your appointment is confirmed.`,
  (n) => `According to ${n}, the shipment left the warehouse on time.`,
  (n) => `The tenant, ${n}, has not paid rent for two months.`,
  (n) => `Translate this for ${n}: the package will arrive tomorrow.`,
  (n) => `Write a reference letter for ${n}, who worked with us for three years.`,
  (n) => `${n} was diagnosed with type 2 diabetes in March.`,
  (n) => `Who is ${n}? I got a voicemail from that number.`,
];

const streetsUs = ["Maple", "Oak", "Washington", "Lincoln", "Jefferson", "Cedar", "Elm", "Sunset", "Lakeview", "Highland", "Franklin", "Willow", "Madison", "Chestnut", "Riverside", "Hawthorne", "Martin Luther King Jr.", "Pine Hill"];
const typesUs = ["Street", "St.", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Drive", "Dr.", "Court", "Way", "Place", "Terrace", "Circle", "Parkway", "Heights", "Ridge", "Crossing"];
const citiesUs: [string, string, string][] = [
  ["Springfield", "IL", "62704"], ["Austin", "TX", "78701"], ["Portland", "OR", "97205"], ["Columbus", "OH", "43215"], ["Denver", "CO", "80202"],
  ["Madison", "WI", "53703"], ["Raleigh", "NC", "27601"], ["Tucson", "AZ", "85701"], ["Albany", "NY", "12207"], ["Boise", "ID", "83702"],
];
const streetsUk = ["Baker", "High", "Church", "Station", "Victoria", "Mill", "Queens", "Kingsway", "Abbey", "Park", "Manor", "Windsor", "Castle"];
const typesUk = ["Street", "Road", "Lane", "Close", "Avenue", "Crescent", "Gardens", "Grove", "Terrace", "Drive", "Way", "Mews"];
const citiesUk: [string, string][] = [
  ["London", "NW1 6XE"], ["Manchester", "M1 1AE"], ["Leeds", "LS1 4DY"], ["Bristol", "BS1 5TR"], ["Oxford", "OX1 2JD"], ["Cambridge", "CB2 1TN"],
  ["Edinburgh", "EH1 1YZ"], ["Cardiff", "CF10 1EP"], ["London", "SW1A 2AA"], ["Brighton", "BN1 1AE"],
];
const streetsDe = ["Haupt", "Bahnhof", "Schiller", "Goethe", "Garten", "Linden", "Berg", "Kirch", "Wald", "Dorf", "Schul", "Rosen"];
const typesDe = ["straße", "strasse", "weg", "platz", "allee", "gasse", "str."];
const citiesDe: [string, string][] = [
  ["Berlin", "10115"], ["München", "80331"], ["Hamburg", "20095"], ["Köln", "50667"], ["Frankfurt am Main", "60311"], ["Stuttgart", "70173"],
  ["Leipzig", "04109"], ["Dresden", "01067"], ["Bremen", "28195"], ["Hannover", "30159"],
];
const streetsFr = ["de la Paix", "Victor Hugo", "de la République", "des Lilas", "du Général de Gaulle", "Jean Jaurès", "de Rivoli", "Pasteur", "des Écoles", "du Moulin"];
const typesFr = ["rue", "avenue", "boulevard", "place", "allée", "impasse", "chemin", "quai"];
const citiesFr: [string, string][] = [
  ["Paris", "75002"], ["Lyon", "69002"], ["Marseille", "13001"], ["Toulouse", "31000"], ["Bordeaux", "33000"], ["Lille", "59000"],
  ["Nantes", "44000"], ["Strasbourg", "67000"], ["Nice", "06000"], ["Rennes", "35000"],
];

const addressTemplates: ((a: string) => string)[] = [
  (a) => `I live at ${a}.`,
  (a) => `Please ship the replacement to ${a}.`,
  (a) => `My address is ${a}`,
  (a) => `Address: ${a}`,
  (a) => `The office moved to ${a} last year.`,
  (a) => `Send the signed forms to ${a}, attention HR.`,
  (a) => `Can you check if ${a} is in the delivery zone?`,
  (a) => `${a}`,
  (a) => `Billing address\n${a}`,
  (a) => `We met at ${a} for the inspection.`,
];

/** Texts with none of these values: decoys first, then ordinary requests. */
export const decoys: string[] = [
  "Apple released a new MacBook with the M4 chip.",
  "I just bought an Apple and a banana at the market.",
  "Jordan borders Israel, Syria and Saudi Arabia.",
  "We flew to Jordan for a week and saw Petra.",
  "Paris is lovely in the spring.",
  "The conference will be held in Paris next June.",
  "In May we shipped the new version; June was quieter.",
  "August sales beat expectations and September looks strong.",
  "Will you send me the slides before the meeting?",
  "Hope is not a strategy, as the saying goes.",
  "The Rose Garden at the White House was redesigned.",
  "Grace periods apply to late payments of up to 15 days.",
  "Mark the items as done when you finish them.",
  "The Board of Directors met on Tuesday to approve the budget.",
  "Our Customer Success team handles Enterprise accounts.",
  "Try the new Park Avenue fragrance by our partner brand.",
  "The Abbey Road album was recorded in 1969.",
  "Our Ocean Drive collection of swimwear is on sale.",
  "Route 66 merchandise is popular with tourists.",
  "The iPhone 15 Pro Max has a titanium frame.",
  "Tesla and Ford both reported lower margins this quarter.",
  "Goldman Sachs and Morgan Stanley raised their forecasts.",
  "The Washington Post and the Wall Street Journal covered the story.",
  "Download Microsoft Teams or use Google Meet for the call.",
  "We use Python, Ruby and Rust in production; Julia for research.",
  "Amazon Web Services had an outage in the US East region.",
  "Christmas Eve falls on a Sunday this year.",
  "The Grand Canyon is in northern Arizona.",
  "Mount Everest is the highest mountain on Earth.",
  "The Golden Gate Bridge opened in 1937.",
  "Main Street businesses reported higher foot traffic.",
  "Our 24 Hour Fitness membership includes 2 Guest Passes.",
  "The 3 Point Line was moved back in 2008.",
  "Version 2 Beta Release notes are attached.",
  "Please review pull request 4521 and merge it into main.",
  "The patient has a history of hypertension and was prescribed lisinopril.",
  "Summarise the attached quarterly report in three bullet points.",
  "Write a Python function that reverses a linked list.",
  "What is the capital of Australia?",
  "Explain the difference between TCP and UDP.",
  "Our revenue grew 12% year over year to $4.2 million.",
  "The Federal Reserve kept interest rates unchanged in December.",
  "Add a README section on Installation and Usage.",
  "The European Union agreed on new AI rules.",
  "Black Friday and Cyber Monday drove record sales.",
  "Harvard University and Stanford University topped the list.",
  "Sunset Boulevard is a 1950 film about Hollywood.",
  "The Oxford English Dictionary added new words.",
  "Our Dallas and Houston stores open at 9 am.",
  "The Victoria Line is closed this weekend for engineering works.",
  "Angel investors funded the seed round.",
  "Summer Sale: 20% off all Garden Furniture.",
  "The new Galaxy S24 Ultra ships with Android 14.",
  "The server in Frankfurt handles EU traffic.",
  "Chase Bank raised its savings rate.",
  "Rolls Royce delivered new engines to the airline.",
  "Reset your password from the Account Settings page.",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
  "The Hilton hotel near the airport has a shuttle.",
  "Checkout the Main Branch of the library on Saturdays.",
  "Set the Max Retries option to 5 and the Timeout to 30 seconds.",
  "Install Docker Desktop, then run docker compose up.",
  "The Great Depression began in 1929.",
  "We moved the Kanban board to Jira Cloud.",
  "The code is 12345 and the order number is 67890.",
  "Room 101 is on the second floor.",
  "He scored 31 points in 24 minutes.",
  "The meeting room on Floor 3 is booked until noon.",
  "Sales in Q3 rose 8 percent, led by North America.",
  "The Marshall Plan helped rebuild Western Europe.",
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function build(template: (v: string) => string, value: string, type: string, group: string, extra?: { type: string; value: string }): Labelled {
  const marker = "\u0000";
  const t = template(marker);
  const at = t.indexOf(marker);
  const text = t.replace(marker, value);
  const spans = [{ type, start: at, end: at + value.length }];
  if (extra) {
    const i = text.indexOf(extra.value, at + value.length);
    if (i !== -1) spans.push({ type: extra.type, start: i, end: i + extra.value.length });
  }
  return { text, spans, group };
}

export function personCorpus(seed = 18): Labelled[] {
  const r = rng(seed);
  const out: Labelled[] = [];
  const origins = Object.keys(names);
  for (let i = 0; i < 260; i++) {
    const [gs, ss] = names[origins[i % origins.length]!]!;
    const first = pick(r, gs);
    const last = pick(r, ss);
    const form = r();
    let value: string;
    let group: string;
    if (form < 0.55) {
      value = `${first} ${last}`;
      group = "full name";
    } else if (form < 0.65) {
      value = `${pick(r, titles)} ${last}`;
      group = "title + surname";
    } else if (form < 0.72) {
      value = `${first} ${String.fromCharCode(65 + Math.floor(r() * 26))}. ${last}`;
      group = "middle initial";
    } else if (form < 0.78) {
      value = `${last}, ${first}`;
      group = "surname, given";
    } else if (form < 0.9) {
      value = first;
      group = "given name alone";
    } else {
      value = `${pick(r, titles)} ${first} ${last}`;
      group = "title + full name";
    }
    const tpl = pick(r, personTemplates);
    // The title is context, not part of the name: the expected span starts after it.
    const m = /^((?:Dr|Mr|Mrs|Ms|Prof|Herr|Frau|Mme|Miss)\.? )(.*)$/.exec(value);
    if (m) {
      const l = build((v) => tpl(m[1] + v, first, last), m[2]!, "person", group);
      out.push(l);
    } else out.push(build((v) => tpl(v, first, last), value, "person", group));
  }
  // Lower case after "my name is".
  for (let i = 0; i < 12; i++) {
    const [gs, ss] = names[origins[i % origins.length]!]!;
    const value = `${pick(r, gs)} ${pick(r, ss)}`.toLowerCase();
    out.push(build((v) => `hi, my name is ${v} and i cannot log in`, value, "person", "lower case after my name is"));
  }
  // Names that are words: context makes them names.
  const ctx: ((n: string) => string)[] = [
    (n) => `I told ${n} about the delay.`,
    (n) => `${n} said the invoice was paid.`,
    (n) => `Please ask ${n} to call me back.`,
    (n) => `Dear ${n},\nYour order has shipped.`,
    (n) => `My name is ${n}.`,
    (n) => `${n} Williams joined the team in April.`,
  ];
  for (const n of wordNames)
    for (let k = 0; k < 2; k++) {
      const tpl = pick(r, ctx);
      const t0 = tpl("\u0000");
      if (t0.includes("\u0000 Williams")) out.push(build((v) => tpl("\u0000").replace("\u0000 Williams", v), `${n} Williams`, "person", "word name + surname"));
      else out.push(build(tpl, n, "person", "word name in context"));
    }
  out.push(build((v) => `Photos of ${v} at the gala went viral.`, "Paris Hilton", "person", "word name + surname"));
  out.push(build((v) => `${v} scored 32 points last night.`, "Michael Jordan", "person", "word name + surname"));
  return out;
}

export function addressCorpus(seed = 18): Labelled[] {
  const r = rng(seed + 1);
  const out: Labelled[] = [];
  for (let i = 0; i < 200; i++) {
    const country = i % 5;
    const n = 1 + Math.floor(r() * (r() < 0.2 ? 9 : 4999));
    let value: string;
    let group: string;
    if (country === 0) {
      const [city, st, zip] = pick(r, citiesUs);
      const street = `${10 + n} ${pick(r, streetsUs)} ${pick(r, typesUs)}`;
      const unit = r() < 0.3 ? `, ${pick(r, ["Apt", "Apt.", "Suite", "Unit", "#"])} ${1 + Math.floor(r() * 900)}` : "";
      value = r() < 0.75 ? `${street}${unit}, ${city}, ${st} ${zip}` : `${street}${unit}`;
      group = "US";
    } else if (country === 1) {
      const [city, pc] = pick(r, citiesUk);
      const num = `${1 + (n % 300)}${r() < 0.15 ? "B" : ""}`;
      const street = `${num} ${pick(r, streetsUk)} ${pick(r, typesUk)}`;
      const flat = r() < 0.2 ? `Flat ${1 + Math.floor(r() * 20)}, ` : "";
      value = r() < 0.8 ? `${flat}${street}, ${city} ${pc}` : `${flat}${street}`;
      group = "UK";
    } else if (country === 2) {
      const [city, plz] = pick(r, citiesDe);
      const t = pick(r, typesDe);
      const street = `${pick(r, streetsDe)}${t} ${1 + (n % 150)}${r() < 0.2 ? "a" : ""}`;
      value = r() < 0.8 ? `${street}, ${plz} ${city}` : street;
      group = "DE";
    } else if (country === 3) {
      const [city, cp] = pick(r, citiesFr);
      const street = `${1 + (n % 120)}${r() < 0.1 ? " bis" : ""} ${pick(r, typesFr)} ${pick(r, streetsFr)}`;
      value = r() < 0.8 ? `${street}, ${cp} ${city}` : street;
      group = "FR";
    } else {
      const kind = r();
      if (kind < 0.5) {
        const [city, st, zip] = pick(r, citiesUs);
        value = `${pick(r, ["P.O. Box", "PO Box", "Post Office Box"])} ${n}, ${city}, ${st} ${zip}`;
      } else if (kind < 0.7) value = `Postfach ${n}, ${pick(r, citiesDe)[1]} ${pick(r, citiesDe)[0]}`;
      else value = `${10 + n} ${pick(r, streetsUs)} ${pick(r, ["Street", "Avenue", "Road"])}, ${pick(r, ["Suite", "Floor"])} ${1 + (n % 40)}`;
      group = "PO box / generic";
    }
    // Written over several lines, as on an envelope, now and then.
    if (r() < 0.2) value = value.replace(", ", "\n");
    out.push(build(pick(r, addressTemplates), value, "street_address", group));
  }
  for (const value of ["PSC 1234, Box 5678\nAPO AE 09012", "USNS Miller\nFPO AP 96612", "Unit 8251 Box 4011\nDPO AA 53071"])
    out.push(build(pick(r, addressTemplates), value, "street_address", "US military"));
  return out;
}

/** Postal codes and birth dates with and without their cues. */
export function otherCorpus(seed = 18): Labelled[] {
  const r = rng(seed + 2);
  const out: Labelled[] = [];
  const zipT: ((z: string) => string)[] = [
    (z) => `My ZIP code is ${z}.`,
    (z) => `Enter the postcode ${z} to see delivery times.`,
    (z) => `PLZ: ${z}`,
    (z) => `code postal ${z}`,
    (z) => `Is ${z} covered by your service?`,
  ];
  const codes = ["62704", "94105-1234", "SW1A 1AA", "M1 1AE", "10115", "75002", "EH1 1YZ", "30303", "80331", "CF10 1EP"];
  for (let i = 0; i < 40; i++) {
    const code = pick(r, codes);
    const tpl = /^\d{5}$/.test(code) && r() < 0.3 ? zipT[0]! : pick(r, zipT);
    // A bare 5 digits without a cue is not expected (`Is 62704 covered…`): it stays unlabelled.
    const l = build(tpl, code, "postal_code", "postal code");
    if (tpl === zipT[4] && /^\d{5}(?:-\d{4})?$/.test(code)) l.spans = [];
    out.push(l);
  }
  const dobT: ((d: string) => string)[] = [
    (d) => `I was born on ${d} in a small town.`,
    (d) => `DOB: ${d}`,
    (d) => `Date of birth: ${d}`,
    (d) => `Patient (date of birth ${d}) reports dizziness.`,
    (d) => `née le ${d} à Lyon`,
    (d) => `geboren am ${d} in Hamburg`,
  ];
  const dates = ["12/05/1980", "1975-03-14", "March 3, 1991", "3 March 1991", "14.07.1962", "07/22/88", "21 juin 1984", "5. Mai 1979", "Jan 9, 2001"];
  for (let i = 0; i < 30; i++) out.push(build(pick(r, dobT), pick(r, dates), "date_of_birth", "date of birth"));
  // Dates without a birth cue: not birth dates.
  for (const d of dates) out.push({ text: `The invoice is due on ${d}.`, spans: [], group: "date without cue" });
  return out;
}

/** Mixed sentences: a name and an address together. */
export function mixedCorpus(seed = 18): Labelled[] {
  const r = rng(seed + 3);
  const people = personCorpus(seed).filter((l) => l.group === "full name");
  const places = addressCorpus(seed).filter((l) => l.group !== "PO box / generic");
  const out: Labelled[] = [];
  for (let i = 0; i < 40; i++) {
    const p = pick(r, people);
    const a = pick(r, places);
    const name = p.text.slice(p.spans[0]!.start, p.spans[0]!.end);
    const addr = a.text.slice(a.spans[0]!.start, a.spans[0]!.end);
    const text = `Please send ${name}'s new card to ${addr}.`;
    const s1 = text.indexOf(name);
    const s2 = text.indexOf(addr, s1 + name.length);
    out.push({
      text,
      spans: [
        { type: "person", start: s1, end: s1 + name.length },
        { type: "street_address", start: s2, end: s2 + addr.length },
      ],
      group: "name + address",
    });
  }
  return out;
}

export function corpus(): Labelled[] {
  return [...personCorpus(), ...addressCorpus(), ...otherCorpus(), ...mixedCorpus(), ...decoys.map((text) => ({ text, spans: [], group: "decoy" }))];
}

export interface Score {
  type: string;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
}

/**
 * Precision and recall per type, by overlap: a finding counts as right when it overlaps an expected
 * span of its type; an expected span counts as found when a finding of its type overlaps it.
 */
export function score(items: readonly Labelled[], find: (text: string) => { type: string; start: number; end: number }[], types: readonly string[]) {
  const per = new Map<string, { tp: number; fp: number; fn: number; found: number; gold: number }>();
  for (const t of types) per.set(t, { tp: 0, fp: 0, fn: 0, found: 0, gold: 0 });
  let clean = 0;
  let cleanTotal = 0;
  const misses: string[] = [];
  const falses: string[] = [];
  for (const item of items) {
    const found = find(item.text).filter((f) => per.has(f.type));
    if (item.spans.length === 0) {
      cleanTotal++;
      if (found.length === 0) clean++;
    }
    for (const f of found) {
      const s = per.get(f.type)!;
      s.found++;
      if (item.spans.some((g) => g.type === f.type && g.start < f.end && f.start < g.end)) s.tp++;
      else {
        s.fp++;
        falses.push(`${f.type}: ${JSON.stringify(item.text.slice(f.start, f.end))} in ${JSON.stringify(item.text)}`);
      }
    }
    for (const g of item.spans) {
      const s = per.get(g.type);
      if (!s) continue;
      s.gold++;
      if (!found.some((f) => f.type === g.type && g.start < f.end && f.start < g.end)) {
        s.fn++;
        misses.push(`${g.type}: ${JSON.stringify(item.text.slice(g.start, g.end))} in ${JSON.stringify(item.text)}`);
      }
    }
  }
  const scores: Score[] = types.map((type) => {
    const s = per.get(type)!;
    return {
      type,
      tp: s.tp,
      fp: s.fp,
      fn: s.fn,
      precision: s.found === 0 ? 1 : s.tp / s.found,
      recall: s.gold === 0 ? 1 : (s.gold - s.fn) / s.gold,
    };
  });
  return { scores, cleanShare: cleanTotal === 0 ? 1 : clean / cleanTotal, cleanTotal, misses, falses };
}
