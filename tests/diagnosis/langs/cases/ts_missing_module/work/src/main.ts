import { axis } from "./plot";

const x = axis([0.1, 0.4, 0.35, 0.8], 640);
console.log([0.1, 0.8].map(x));
