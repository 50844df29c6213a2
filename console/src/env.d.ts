// Vite's CSS imports (main.ts imports style.css), for the type check.
declare module "*.css";
