/**
 * Small closed word classes the language-level recognisers reason with: the words around a name
 * that say "this is a person" (titles, greetings, verbs of address) or "this is not" (company and
 * street words, calendar words, nationalities, brands). All lower case; hand-kept, not data.
 */

/** Latin capital and small letters, for regex classes (the scanner's shared regexes have no `u` flag). */
export const UPPER = "A-Z\\u00C0-\\u00D6\\u00D8-\\u00DE\\u0100-\\u017F";
export const LOWER = "a-z\\u00DF-\\u00F6\\u00F8-\\u00FF\\u0100-\\u017F";

const words = (s: string): ReadonlySet<string> => new Set(s.trim().split(/\s+/));

/** Words right before a name that make it one: titles and forms of address. */
export const titles = words(`
  mr mrs ms miss mx dr doctor prof professor sir dame lord lady rev reverend fr father
  herr frau hr m mme mlle monsieur madame mademoiselle señor señora senor senora sr sra srta
  signor signora sig dott capt captain lt lieutenant col colonel gen officer detective det sgt sergeant
  judge senator sen rep representative president gov governor mayor nurse coach uncle aunt auntie
  grandma grandpa granny cousin dear hi hello hey attn attention thanks cheers regards sincerely
  signed patient client customer employee applicant tenant candidate student pupil resident
  mister missus mrs. agent inspector constable pc chef
`);

/** Two- and three-word phrases before a name (`my name is Jane`); the last word is the one right before. */
export const leadPhrases: readonly (readonly string[])[] = [
  ["name", "is"],
  ["name", "was"],
  ["name's"],
  ["names", "are"],
  ["call", "me"],
  ["i", "am"],
  ["i'm"],
  ["im"],
  ["this", "is"],
  ["it's"],
  ["named"],
  ["called"],
  ["nom", "est"],
  ["je", "suis"],
  ["appelle"],
  ["m'appelle"],
  ["heiße"],
  ["heisse"],
  ["bin"],
  ["name", "ist"],
  ["llamo"],
  ["signed", "by"],
  ["according", "to"],
  ["spoke", "with"],
  ["spoke", "to"],
  ["talked", "to"],
  ["on", "behalf", "of"],
  ["prepared", "by"],
  ["written", "by"],
  ["authored", "by"],
  ["contact", "person"],
  ["full", "name"],
  ["first", "name"],
  ["last", "name"],
  ["surname"],
  ["name"],
  ["nombre"],
];

/** Verbs right before a name that, with a given name, say person (`I told Will`, `we met Hope`). */
export const verbsBefore = words(`
  told tell asked ask met meet thanked thank emailed email texted text messaged message contacted contact
  married marry hired hire fired fire informed inform introduced introduce invited invite phoned phone
  pinged ping cc cc'd paged page helped help paid pay visited kissed hugged loves love hate hates
  with son daughter wife husband brother sister mother father mom dad friend boss colleague
  nephew niece grandson granddaughter fiancé fiance fiancée fiancee partner girlfriend boyfriend
  mentor manager doctor nurse landlord neighbour neighbor roommate
`);

/** Words right after a name that say person (`Will said`). */
export const verbsAfter = words(`
  said says told asked wrote writes replied replies answered answers emailed texted called calls thinks
  thought wants wanted agreed agrees signed signs was is has had will would lives lived works worked
  smiled laughed nodded confirmed explained mentioned noted added insisted suggested recommended
  felt feels went goes came comes died born joined left
`);

/** After a possessive `'s`: words that make the owner a person (`Rose's husband`). */
export const possessedByPerson = words(`
  wife husband mother father mom mum dad son daughter brother sister boss friend phone email address
  birthday car house room office family kids children parents girlfriend boyfriend partner salary
  diagnosis prescription appointment account number
`);

/** Words after a name-like run that make it a company, place or thing instead. */
export const thingAfter = words(`
  inc inc. ltd ltd. llc plc corp corp. corporation co co. company companies group bank university
  college school academy hospital clinic foundation institute trust partners associates gmbh ag sa
  sarl sas limited holdings capital ventures labs laboratories industries international enterprises
  agency council committee society church cathedral center centre museum hotel hotels resort airlines
  airways airport station stadium arena hall library gallery theatre theater studios studio records
  pictures productions media press publishing news times post journal magazine motors automotive
  pharmaceuticals pharma systems solutions technologies technology software consulting services
  brothers bros sons & and-co fund funds insurance financial securities law llp pc pllc
  award awards prize prizes memorial bridge tunnel tower towers building plaza square street
  st st. road rd rd. avenue ave ave. boulevard blvd lane ln drive dr. way court ct place pl terrace
  highway freeway parkway straße strasse str str. weg platz allee gasse ring damm ufer chaussee
  rue quai impasse chemin cours allée allee
  river lake mountain mountains valley island islands county state province region district city town
  village beach bay coast desert forest canyon falls
  effect syndrome disease disorder law theorem principle equation conjecture hypothesis model method
  algorithm prize medal lecture lectures scholarship fellowship method test scale index
  cup league series championship tournament open games show
`);

/** Words right before a name-like run that make it a place or thing (`St. John`, `Lake Louise`, `Fort Worth`). */
export const thingBefore = words(`
  st st. saint san santa sao são fort ft mount mt lake port cape isle isla rio río villa
  north south east west central northern southern eastern western upper lower greater new
  the a an this that these those our your their its
`);

/** Words before a single place-like name that say place (`flew to Paris`, `born in Jordan`). */
export const placeBefore = words(`
  in at near from to via into toward towards across around outside inside visit visited visiting
  flew fly flying moved move moving live lived living based located headquartered
`);

/** Calendar words: not names alone (`May`, `June`, `August` are both). */
export const calendar = words(`
  january february march april may june july august september october november december
  jan feb mar apr jun jul aug sep sept oct nov dec
  monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
  christmas easter halloween thanksgiving ramadan hanukkah diwali
  januar jänner februar märz maerz mai juni juli oktober dezember
  janvier février fevrier mars avril juin juillet août aout septembre octobre novembre décembre decembre
`);

/** Capitalised words that are never names: nationalities, languages, faiths, brands, software. */
export const notNames = words(`
  english french german spanish italian american british chinese japanese indian russian african
  european asian christian muslim jewish catholic protestant hindu buddhist sikh latin greek arab
  arabic irish scottish welsh dutch swedish norwegian danish finnish polish portuguese brazilian
  mexican canadian australian korean vietnamese thai turkish persian egyptian israeli pakistani
  nigerian kenyan ethiopian ukrainian swiss austrian belgian czech hungarian romanian bulgarian serbian
  croatian filipino indonesian malaysian singaporean cuban peruvian chilean argentine argentinian
  colombian venezuelan jamaican haitian moroccan algerian tunisian iranian iraqi syrian lebanese
  saudi afghan bangladeshi nepali tibetan mongolian hispanic latino latina caucasian european
  god jesus christ allah lord bible quran torah koran
  apple google amazon microsoft tesla dell alexa siri cortana ruby julia rust swift python java
  kotlin django flask jenkins docker kafka redis nike adidas gucci prada chanel dior mercedes porsche
  ferrari lamborghini toyota honda nissan mazda subaru lexus audi bmw volvo jaguar oracle ibm intel
  nvidia samsung sony xbox playstation nintendo netflix spotify uber lyft airbnb twitter facebook
  instagram tiktok whatsapp zoom slack github gitlab linux windows android chrome firefox safari
  opera excel outlook kindle starbucks walmart costco ikea lego barbie disney pixar marvel casper
  claude gemini copilot chatgpt openai anthropic llama mistral falcon phoenix hermes atlas apollo
  zeus athena mercury venus mars jupiter saturn neptune pluto orion titan
  ok okay yes no please note warning error todo fixme
`);

/** Two-word brands and firms that read as given name + surname. */
export const brandPairs = words(`
  goldman_sachs morgan_stanley wells_fargo dow_jones rolls_royce harley_davidson lehman_brothers
  merrill_lynch charles_schwab estée_lauder estee_lauder calvin_klein ralph_lauren tommy_hilfiger
  hugo_boss louis_vuitton kate_spade michael_kors marc_jacobs tim_hortons taco_bell aston_martin
  alfa_romeo jack_daniels jack_daniel's johnnie_walker john_deere marks_spencer
  dolce_gabbana procter_gamble ernst_young johnson_johnson ben_jerry's ben_jerrys
  dean_witter arthur_andersen baker_mckenzie allen_overy
  hewlett_packard sherwin_williams black_decker smith_wesson dr_pepper papa_john's papa_johns
  wendy's little_caesars dunkin_donuts dave_busters jimmy_choo
`);

/** Lower-case particles inside surnames (`van der Berg`, `da Silva`, `al-Hassan`). */
export const particles = words(`
  van von de da del della dei di du la le der den ter ten dos das bin ibn ben bint al el abu af zu y e
`);
