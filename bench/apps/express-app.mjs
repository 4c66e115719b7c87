// The same Express app on every Node stack: a router, a route parameter, res.json.
import express from 'express';

const app = express();
app.get('/users/:id', (req, res) => {
  res.json({ id: Number(req.params.id), name: `user-${req.params.id}`, roles: ['reader'] });
});
export default app;
